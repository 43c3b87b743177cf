"""The health part of the Overview: each environment's badge, error budget left and
30-day uptime, from the collected samples (database only)."""

from django.utils import timezone

from monitoring import readings
from platform_admin.overview import Part


def contexts(environments) -> dict[int, dict]:
    now = timezone.now()
    return {
        env.pk: {"figures": readings.environment_figures(env, now), "environment": env}
        for env in environments
    }


PART = Part("Health", "monitoring/_overview_part.html", contexts)
