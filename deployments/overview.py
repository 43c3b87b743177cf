"""The deployments part of the Overview: what is live in each environment, and the
rollout under way there."""

from django.db.models import OuterRef, Subquery

from deployments.live import carrying
from deployments.models import Rollout, RolloutState
from monitoring.models import LiveKind, LiveService
from platform_admin.models import Environment
from platform_admin.overview import Part
from platform_admin.timeline import digest


def _collected(ids) -> dict[int, dict]:
    """Per environment what its Cloud Run services serve, as the health collector saw it:
    {"versions": releases whose artifacts carry the live digests, "unknown": services
    whose image no release carries}. Two queries for every environment together."""
    live = list(
        LiveService.objects.filter(environment_id__in=ids, kind=LiveKind.CLOUD_RUN)
        .exclude(image="")
        .values_list("environment_id", "service", "image")
    )
    carried: dict[tuple[str, str], str] = {}  # oldest release first: the newest stays
    for artifact in carrying((service, image) for _, service, image in live):
        carried[artifact.service_name, digest(artifact.image)] = artifact.release.version
    out: dict[int, dict] = {}
    for env_id, service, image in live:
        seen = out.setdefault(env_id, {"versions": set(), "unknown": []})
        version = carried.get((service, digest(image)))
        if version:
            seen["versions"].add(version)  # the newest release carrying that digest
        else:
            seen["unknown"].append(service)
    return out


def contexts(environments) -> dict[int, dict]:
    """Per environment: what is live (the releases its live digests belong to, else its
    last succeeded rollout's) and its active rollout. Four queries for every environment."""
    ids = [env.pk for env in environments]
    last_succeeded = Rollout.objects.filter(
        environment=OuterRef("pk"), state=RolloutState.SUCCEEDED
    ).order_by("-finished_at", "-id")
    live = dict(
        Environment.objects.filter(pk__in=ids)
        .annotate(version=Subquery(last_succeeded.values("release__version")[:1]))
        .values_list("pk", "version")
    )
    active = {
        rollout.environment_id: rollout
        for rollout in Rollout.objects.filter(
            environment_id__in=ids, state__in=RolloutState.active()
        ).select_related("release")
    }
    collected = _collected(ids)
    return {
        pk: {
            "live": live.get(pk),
            "seen": sorted(collected.get(pk, {}).get("versions", ())),
            "unknown": collected.get(pk, {}).get("unknown", []),
            "active": active.get(pk),
        }
        for pk in ids
    }


PART = Part("Deployments", "deployments/_overview_part.html", contexts)
