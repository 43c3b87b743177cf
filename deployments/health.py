"""The rollout engine's part of /healthz: no rollout may sit past its due time."""

from datetime import timedelta

from django.utils import timezone

from deployments.models import Rollout, RolloutState

# Past this, a due rollout is not just waiting for the next tick: no worker is taking it.
OVERDUE = timedelta(seconds=30)


def check_rollouts() -> tuple[bool, str]:
    """ok, or how many rollouts are overdue and by how much (the oldest first)."""
    now = timezone.now()
    overdue = Rollout.objects.filter(
        state__in=RolloutState.driven(), next_check_at__lt=now - OVERDUE
    ).order_by("next_check_at")
    oldest = overdue.values_list("pk", "next_check_at").first()
    if oldest is None:
        return True, "ok"
    late = int((now - oldest[1]).total_seconds())
    count = overdue.count()
    return False, (
        f"{count} rollout(s) overdue; the oldest, #{oldest[0]}, is {late} s past its due time "
        "(is a deploys worker running?)"
    )
