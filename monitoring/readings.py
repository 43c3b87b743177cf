"""Reading health samples for a window: which resolution answers it, and the SLO
figures of an environment. Database only: pages and the API call these, never Google.
"""

from datetime import datetime, timedelta

from django.db.models import Sum

from monitoring import slo
from monitoring.collect import HOUR, ceil_to, floor_to
from monitoring.models import Collection, HealthSample, Resolution

SLO_PERIOD = timedelta(days=30)


def samples_for(environment, start: datetime, end: datetime):
    """The samples of [start, end): minutes where the collector holds every minute of
    the window, otherwise whole hours (the window widened to hour boundaries)."""
    cursor = Collection.objects.filter(environment=environment).first()
    if cursor is not None and cursor.minutes_cover(start, end):
        return HealthSample.objects.window(environment, Resolution.MINUTE, start, end)
    return HealthSample.objects.window(
        environment, Resolution.HOUR, floor_to(start, HOUR), ceil_to(end, HOUR)
    )


def window_totals(environment, length: timedelta, now: datetime) -> slo.Totals:
    """Requests and 5xx of the environment over the `length` before `now` (one
    aggregate query)."""
    sums = samples_for(environment, now - length, now).aggregate(
        requests=Sum("requests"), bad=Sum("errors_5xx")
    )
    return slo.Totals(sums["requests"] or 0, sums["bad"] or 0)


def environment_slo(environment, now: datetime) -> dict:
    """Availability and error budget over the SLO period, burn rates over 1 h … 3 d,
    against the environment's uptime target. A fixed number of queries."""
    target = float(environment.slo_uptime)
    period = window_totals(environment, SLO_PERIOD, now)
    budget = slo.error_budget(period, target)
    return {
        "target": target,
        "availability": slo.availability(period),
        "requests": period.requests,
        "budget_consumed": budget.consumed,
        "budget_left": budget.left,
        "burn_rate": {
            name: slo.burn_rate(window_totals(environment, length, now), target)
            for name, length in slo.BURN_WINDOWS.items()
        },
    }
