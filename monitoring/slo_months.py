"""SLO months: each service's requests, 5xx and latency hours per calendar month (UTC),
recomputed from the hourly samples while they exist (90 days) and kept for good after,
so the 12-month compliance table outlives the samples it came from."""

from datetime import date, datetime, timedelta

from monitoring.models import HealthSample, Resolution, SloMonth

HOURLY_RETENTION = timedelta(days=90)


def _month_starts(start: datetime, end: datetime) -> list[date]:
    months, current = [], date(start.year, start.month, 1)
    while datetime(current.year, current.month, 1, tzinfo=start.tzinfo) < end:
        months.append(current)
        current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months


def _bounds(month: date, tz) -> tuple[datetime, datetime]:
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return datetime(month.year, month.month, 1, tzinfo=tz), datetime(
        nxt.year, nxt.month, 1, tzinfo=tz
    )


def refresh(environment, start: datetime, end: datetime, now: datetime | None = None) -> int:
    """Recompute the SloMonth rows of the months overlapping [start, end) whose hours are
    all still held (first day within the hourly retention); returns the rows written."""
    if end <= start:
        return 0
    oldest = (now or end) - HOURLY_RETENTION
    written = 0
    threshold = float(environment.slo_p95_ms)
    for month in _month_starts(start, end):
        first, last = _bounds(month, start.tzinfo)
        if first < oldest:
            continue  # its first hours are pruned: the row keeps what it had
        per_service = _hours(environment, first, last, threshold)
        for service, sums in per_service.items():
            SloMonth.objects.update_or_create(
                environment=environment, service=service, month=month, defaults=sums
            )
            written += 1
    return written


def _hours(environment, first: datetime, last: datetime, threshold: float) -> dict[str, dict]:
    """Per service: counts summed, and each hour's P95 (request-weighted over the
    revisions of that hour) against the threshold. One query over the month's hours."""
    out: dict[str, dict] = {}
    hours: dict[tuple[str, datetime], list[float]] = {}
    rows = HealthSample.objects.window(environment, Resolution.HOUR, first, last)
    fields = ("service", "time", "requests", "errors_5xx", "p95_ms")
    for service, at, requests, bad, p95 in rows.values_list(*fields):
        sums = out.setdefault(
            service,
            {"requests": 0, "errors_5xx": 0, "latency_buckets": 0, "latency_good_buckets": 0},
        )
        sums["requests"] += requests
        sums["errors_5xx"] += bad
        if p95 is not None and requests:
            acc = hours.setdefault((service, at), [0.0, 0])
            acc[0] += p95 * requests
            acc[1] += requests
    for (service, _), (weight, n) in hours.items():
        out[service]["latency_buckets"] += 1
        out[service]["latency_good_buckets"] += weight / n <= threshold
    return out
