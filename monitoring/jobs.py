"""RQ entry points of the monitoring app (declared in settings.PERIODIC_JOBS)."""

import logging

from django.utils import timezone

from monitoring import alerts, collect

log = logging.getLogger(__name__)


def sample_health(now=None, backfill_days: int = collect.BACKFILL_DAYS) -> dict[str, str]:
    """The periodic health collection: one pass over every environment, pruning, then the
    burn-rate alerts over the fresh samples. An alert failure is logged, never lets the
    job fail: the samples are already written and the next pass evaluates again."""
    now = now or timezone.now()
    result = collect.sample(now, backfill_days)
    try:
        alerts.evaluate(now)
    except Exception:
        log.exception("burn-rate alert evaluation failed at %s", now)
    return result
