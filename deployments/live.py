"""What is live where, for the environment and deploy pages (never a GCP call).

The health collector's snapshot (`monitoring.LiveService`, refreshed every pass) says what
Google serves, whoever deployed it; the release is the one whose artifact carries the live
image's digest (a VM: the version its metadata pins). Where nothing was collected yet the
dashboard's own rollout records stand in, and the page says which it shows.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from costs.services import CostDelta, LiveCost, release_cost_delta, release_live_costs
from deployments.models import Release, ReleaseArtifact, RolloutState
from monitoring.models import LiveKind
from monitoring.models import LiveService as Collected
from platform_admin.models import ServiceKind
from platform_admin.timeline import digest

COLLECTED, ROLLOUTS = "collected", "rollouts"


@dataclass
class LiveService:
    name: str
    kind: str
    release: Release | None
    revision: str
    traffic: dict[str, int]
    image: str
    source: str = ""  # COLLECTED, ROLLOUTS, or "" (nothing known)
    observed_at: datetime | None = None
    drift: str = ""

    @property
    def known(self) -> bool:
        return bool(self.source)


def live_services(environment) -> list[LiveService]:
    """Per deployable service: what runs now, its release where one carries it, revision
    and split. A fixed number of queries however many services and releases."""
    services = [s for s in environment.services.all() if s.is_deployable]
    collected = {c.service: c for c in Collected.objects.filter(environment=environment)}
    records = _from_rollouts(environment)
    releases = _releases_of(
        {
            name: c.image
            for name, c in collected.items()
            if c.kind in (LiveKind.CLOUD_RUN, LiveKind.STATIC_SITE)  # a digest, a build
        },
        {name: c.image for name, c in collected.items() if c.kind == LiveKind.GCE_VM},
        preferred={name: r.release for name, r in records.items() if r.release},
    )
    out = []
    for service in services:
        record = records.get(service.name)
        seen = collected.get(service.name)
        if seen is None:
            out.append(record or _unknown(service))
            continue
        split = seen.split
        out.append(
            LiveService(
                name=service.name,
                kind=service.get_kind_display(),
                release=releases.get(service.name),
                revision=_revision(seen),
                traffic=split,
                image=seen.image,
                source=COLLECTED,
                observed_at=seen.observed_at,
                drift=seen.drift,
            )
        )
    return out


def _revision(seen) -> str:
    """The revision serving the most traffic; a static site's live build; a VM's none."""
    if seen.kind == LiveKind.STATIC_SITE:
        return seen.image
    split = seen.split
    return max(split, key=split.get) if split else seen.latest_ready_revision


def _unknown(service) -> LiveService:
    return LiveService(service.name, service.get_kind_display(), None, "", {}, "")


def _from_rollouts(environment) -> dict[str, LiveService]:
    """The release and revision of the last succeeded rollout that carried each service,
    and the split last recorded (an active rollout's, if any)."""
    rollouts = list(
        environment.rollouts.filter(state__in=[RolloutState.SUCCEEDED, *RolloutState.active()])
        .select_related("release")
        .prefetch_related("release__artifacts")
        .order_by("-finished_at", "-id")[:50]
    )
    active = next((r for r in rollouts if r.is_active), None)
    succeeded = [r for r in rollouts if r.state == RolloutState.SUCCEEDED]
    out = {}
    for service in environment.services.all():
        last = next((r for r in succeeded if service.name in r.release.images()), None)
        if last is None:
            continue
        traffic = last.traffic.get(service.name) or {}
        if active is not None and service.name in active.traffic:
            traffic = active.traffic[service.name]
        out[service.name] = LiveService(
            name=service.name,
            kind=service.get_kind_display(),
            release=last.release,
            revision=(last.revisions.get(service.name) or {}).get("canary", ""),
            traffic=traffic,
            image=last.release.images()[service.name],
            source=ROLLOUTS,
        )
    return out


def carrying(images, also: Q | None = None) -> list[ReleaseArtifact]:
    """The artifacts whose service and digest are one of `images` ((service, image)
    pairs), with the ones `also` selects, oldest release first, releases joined. One
    query; an artifact of one of those services with another digest (a tail that
    `endswith` matched) is left out."""
    wanted = {(service, digest(image)) for service, image in images if image}
    match = also or Q(pk__in=[])
    for service, digest_ in wanted:
        match |= Q(service_name=service, image__endswith=digest_)
    services = {service for service, _ in wanted}
    artifacts = (
        ReleaseArtifact.objects.filter(match)
        .select_related("release")
        .order_by("release__created_at", "release_id")
    )
    return [
        a
        for a in artifacts
        if a.service_name not in services or (a.service_name, digest(a.image)) in wanted
    ]


def _releases_of(
    images: dict[str, str], versions: dict[str, str], preferred: dict[str, Release]
) -> dict[str, Release]:
    """{service: the release it runs}: for Cloud Run the release whose artifact has the
    live digest (a static site: the live build), for a VM the release of the pinned
    version carrying that VM. When several releases carry the same image (unchanged
    between them), the one the last rollout deployed wins, else the newest. One query."""
    pinned = Q(pk__in=[])
    for service, version in versions.items():
        if version:
            pinned |= Q(service_name=service, release__version=version)
    out: dict[str, Release] = {}
    for artifact in carrying(images.items(), also=pinned):
        service = artifact.service_name
        if service not in out or out[service] != preferred.get(service):
            out[service] = artifact.release
    return out


def artifact_diff(release: Release, environment) -> list[dict]:
    """Per service the release carries: what is live now and whether the image changes."""
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
                "known": bool(current and current.known),
                "source": current.source if current else "",
                "new_image": image,
                "resources": release.resources().get(name, {}),
                "changed": _changed(environment, name, image, current),
            }
        )
    return rows


def _changed(environment, name: str, image: str, current: LiveService | None) -> bool:
    if current is None or not current.image:
        return True
    service = next((s for s in environment.services.all() if s.name == name), None)
    if service is not None and service.kind == ServiceKind.GCE_VM and current.release:
        # A VM pins a version: it changes when the release carrying it does.
        return current.release.images().get(name) != image
    return digest(image) != digest(current.image)


def release_cost(release: Release, environment) -> CostDelta | None:
    """What deploying `release` does to the environment's monthly estimate (the one
    question `deployments` asks `costs` about a release): its Cloud Run resources against
    those the live releases set. None when it sets none, or nothing is priced yet."""
    new = release.resources()
    if not new:
        return None
    live = {s.name: s for s in live_services(environment)}
    current = {
        name: live[name].release.resources().get(name, {})
        for name in new
        if name in live and live[name].release is not None
    }
    return release_cost_delta(environment, current, new)


def live_costs(release: Release) -> list[LiveCost]:
    """Per environment the release went live in (its first succeeded deploy there): the
    environment's cost per day the week before and after, and its month (costs)."""
    went_live = {}
    rollouts = release.rollouts.filter(state=RolloutState.SUCCEEDED, finished_at__isnull=False)
    for rollout in rollouts.select_related("environment").order_by("finished_at"):
        went_live.setdefault(rollout.environment_id, rollout)
    return [release_live_costs(r.environment, r.finished_at) for r in went_live.values()]
