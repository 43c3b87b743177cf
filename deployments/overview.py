"""The deployments part of the Overview: what is live in each environment, and the
rollout under way there."""

from django.db.models import OuterRef, Subquery

from deployments.models import Rollout, RolloutState
from platform_admin.models import Environment
from platform_admin.overview import Part


def contexts(environments) -> dict[int, dict]:
    """Per environment: the version of its last succeeded rollout and its active rollout
    (two queries for every environment)."""
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
    return {pk: {"live": live.get(pk), "active": active.get(pk)} for pk in ids}


PART = Part("Deployments", "deployments/_overview_part.html", contexts)
