"""The month-by-month SLO compliance table of an environment (what Sloth's users script
themselves): read from `SloMonth`, kept for good, so a year shows long after the hourly
samples are pruned. The current month counts to date."""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Sum

from monitoring import slo
from monitoring.models import SloMonth


@dataclass(frozen=True)
class Month:
    """One calendar month (UTC) of the whole environment, every service summed."""

    month: date  # first day
    requests: int
    errors_5xx: int
    availability: float | None  # None: no requests that month
    target: float
    met: bool | None  # availability >= target; None without data
    budget_consumed: float | None  # share of that month's error budget spent
    latency_ok: float | None  # share of service-hours whose P95 was within the SLO
    to_date: bool  # the current month, still counting


def _month_starts(now: datetime, count: int) -> list[date]:
    year, month = now.year, now.month
    out = []
    for _ in range(count):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def months(environment, now: datetime, count: int = 12) -> list[Month]:
    """The last `count` months, newest first, one aggregate query; a month without a
    row shows as no data rather than as 100 %."""
    starts = _month_starts(now, count)
    rows = {
        row["month"]: row
        for row in SloMonth.objects.filter(environment=environment, month__gte=starts[-1])
        .values("month")
        .annotate(
            requests=Sum("requests"),
            bad=Sum("errors_5xx"),
            hours=Sum("latency_buckets"),
            good=Sum("latency_good_buckets"),
        )
        .order_by()
    }
    target = float(environment.slo_uptime)
    return [_month(start, rows.get(start), target, start == starts[0]) for start in starts]


def _month(start: date, row: dict | None, target: float, to_date: bool) -> Month:
    totals = slo.Totals(row["requests"] or 0, row["bad"] or 0) if row else slo.Totals(0, 0)
    availability = slo.availability(totals)
    hours = row["hours"] if row else 0
    return Month(
        month=start,
        requests=totals.requests,
        errors_5xx=totals.bad,
        availability=availability,
        target=target,
        met=None if availability is None else availability >= target,
        budget_consumed=slo.error_budget(totals, target).consumed,
        latency_ok=row["good"] / hours if hours else None,
        to_date=to_date,
    )
