"""Minute samples rolled into hourly ones: requests and errors summed exactly.

Percentiles cannot be summed; an hour's P95/P50 is the request-weighted mean of its
minutes' — close to the hour's true percentile when traffic is steady, and what the
hourly series only needs for 30-day views (burn rates and charts read minutes).
"""

from datetime import datetime, timedelta

from monitoring.models import HealthSample, Resolution

HOUR = timedelta(hours=1)


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _weighted(pairs: list[tuple[float | None, int]]) -> float | None:
    known = [(value, n) for value, n in pairs if value is not None and n]
    weight = sum(n for _, n in known)
    return round(sum(value * n for value, n in known) / weight, 3) if weight else None


def hourly_rows(environment, minutes) -> list[HealthSample]:
    """One hourly sample per (service, revision, hour) of the given minute samples."""
    groups: dict[tuple, list[HealthSample]] = {}
    for row in minutes:
        groups.setdefault((row.service, row.revision, _hour_of(row.time)), []).append(row)
    return [
        HealthSample(
            environment=environment,
            resolution=Resolution.HOUR,
            time=hour,
            service=service,
            revision=revision,
            requests=sum(r.requests for r in rows),
            errors_5xx=sum(r.errors_5xx for r in rows),
            errors_4xx=sum(r.errors_4xx for r in rows),
            p95_ms=_weighted([(r.p95_ms, r.requests) for r in rows]),
            p50_ms=_weighted([(r.p50_ms, r.requests) for r in rows]),
        )
        for (service, revision, hour), rows in sorted(groups.items())
    ]


def roll_hours(environment, start: datetime, end: datetime) -> int:
    """Replace the hourly samples of [start, end) (whole hours) with the rollup of that
    window's minute samples; returns the number of hourly rows written."""
    if end <= start:
        return 0
    minutes = HealthSample.objects.window(environment, Resolution.MINUTE, start, end)
    rows = hourly_rows(environment, minutes)
    HealthSample.objects.replace_window(environment, Resolution.HOUR, start, end, rows)
    return len(rows)
