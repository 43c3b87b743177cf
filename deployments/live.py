"""What is live where, read from the rollouts' records (pages never wait on a GCP call)."""

from dataclasses import dataclass

from deployments.models import Release, RolloutState


@dataclass
class LiveService:
    name: str
    kind: str
    release: Release | None
    revision: str
    traffic: dict[str, int]
    image: str


def live_services(environment) -> list[LiveService]:
    """Per deployable service: the release and revision of the last succeeded rollout
    that carried it, and the traffic split last recorded (an active rollout's, if any)."""
    rollouts = list(
        environment.rollouts.filter(state__in=[RolloutState.SUCCEEDED, *RolloutState.active()])
        .select_related("release")
        .prefetch_related("release__artifacts")
        .order_by("-finished_at", "-id")[:50]
    )
    active = next((r for r in rollouts if r.is_active), None)
    succeeded = [r for r in rollouts if r.state == RolloutState.SUCCEEDED]
    out = []
    for service in environment.services.all():
        if not service.is_deployable:
            continue
        last = next((r for r in succeeded if service.name in r.release.images()), None)
        record = (last.revisions.get(service.name) or {}) if last else {}
        traffic = (last.traffic.get(service.name) or {}) if last else {}
        if active is not None and service.name in active.traffic:
            traffic = active.traffic[service.name]
        out.append(
            LiveService(
                name=service.name,
                kind=service.get_kind_display(),
                release=last.release if last else None,
                revision=record.get("canary", ""),
                traffic=traffic,
                image=last.release.images().get(service.name, "") if last else "",
            )
        )
    return out


def artifact_diff(release: Release, environment) -> list[dict]:
    """Per service the release carries: the live image and whether it changes."""
    live = {s.name: s for s in live_services(environment)}
    rows = []
    for name, image in sorted(release.images().items()):
        current = live.get(name)
        live_image = current.image if current else ""
        rows.append(
            {
                "service": name,
                "live_release": current.release.version if current and current.release else "",
                "live_image": live_image,
                "new_image": image,
                "changed": image != live_image,
            }
        )
    return rows
