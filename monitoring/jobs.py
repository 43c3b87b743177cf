"""RQ entry points of the monitoring app (declared in settings.PERIODIC_JOBS)."""

from monitoring import collect


def sample_health() -> dict[str, str]:
    """The periodic health collection: one pass over every environment, then pruning."""
    return collect.sample()
