"""Reading health samples: which resolution answers a window, each service's figures
and SLO standing, chart series. Database only: pages, the API and the alerts call
these, never Google.

Every function runs a fixed number of queries however long history is and however
many services there are: one aggregate per resolution (GROUP BY service, one
conditional sum per window), one for the latency SLO, one per chart.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import ExpressionWrapper, F, FloatField, Q, Sum
from django.db.models.expressions import RawSQL

from monitoring import figures, slo
from monitoring.collect import HOUR, MINUTE, ceil_to, floor_to
from monitoring.figures import Point, ServiceFigures
from monitoring.models import Collection, HealthSample, LiveKind, LiveService, Resolution

SLO_PERIOD = timedelta(days=30)
RECENT = timedelta(minutes=5)  # "now": rate, error rate and P95 of a page
# Every window a page or an alert reads: the burn-rate windows plus the alerts' short ones.
WINDOWS = {"5m": RECENT, "30m": timedelta(minutes=30), **slo.BURN_WINDOWS, "30d": SLO_PERIOD}
MAX_POINTS = 300  # a chart's buckets, whatever its span
STALE_PERIODS = 3


def _span(cursor: Collection | None, start: datetime, end: datetime):
    """(resolution, start, end) answering [start, end): minutes where the collector holds
    every minute of it; a window of up to an hour whose end the minutes reach, from the
    minutes there are (the first minutes after an install or a gap: the hours would be
    the hour before, shown as now); otherwise whole hours (widened to hour boundaries)."""
    if cursor is not None and cursor.minutes_cover(start, end):
        return Resolution.MINUTE, start, end
    if (
        cursor is not None
        and end - start <= HOUR
        and cursor.minutes_from is not None
        and cursor.minutes_from < end <= cursor.minutes_until
    ):
        return Resolution.MINUTE, cursor.minutes_from, end
    return Resolution.HOUR, floor_to(start, HOUR), ceil_to(end, HOUR)


def samples_for(environment, start: datetime, end: datetime):
    """The samples of [start, end) at the resolution `_span` picks."""
    cursor = Collection.objects.filter(environment=environment).first()
    resolution, start, end = _span(cursor, start, end)
    return HealthSample.objects.window(environment, resolution, start, end)


def data_end(cursor: Collection | None, now: datetime) -> datetime:
    """Where "the last N minutes" end: the newest complete minute the collector holds
    when it is recent, so a page read between two passes is not a partial window."""
    end = floor_to(now, MINUTE)
    held = cursor.minutes_until if cursor else None
    if held is not None and end - stale_after() <= held < end:
        return held
    return end


def stale_after() -> timedelta:
    return timedelta(seconds=STALE_PERIODS * settings.HEALTH_SAMPLE_SECONDS)


def is_stale(cursor: Collection | None, now: datetime) -> bool:
    """No pass for three sample periods (or never): the figures say nothing about now."""
    return cursor is None or cursor.sampled_at is None or now - cursor.sampled_at > stale_after()


@dataclass(frozen=True)
class Sums:
    """One service's counts over one window; latency weighted by requests."""

    requests: int = 0
    bad: int = 0
    seconds: float = 0.0
    p95_weight: float = 0.0  # Σ p95 × requests over samples with a P95
    p95_requests: int = 0

    @property
    def totals(self) -> slo.Totals:
        return slo.Totals(self.requests, self.bad)

    @property
    def p95_ms(self) -> float | None:
        return self.p95_weight / self.p95_requests if self.p95_requests else None

    def __add__(self, other: "Sums") -> "Sums":
        return Sums(
            self.requests + other.requests,
            self.bad + other.bad,
            max(self.seconds, other.seconds),
            self.p95_weight + other.p95_weight,
            self.p95_requests + other.p95_requests,
        )


_WEIGHTED_P95 = ExpressionWrapper(F("p95_ms") * F("requests"), output_field=FloatField())


def revision_sums(environment, cursor, end: datetime) -> dict[str, dict[tuple[str, str], Sums]]:
    """{window: {(service, revision): Sums}} for every window of WINDOWS ending at `end`:
    one GROUP BY service, revision query per resolution, a conditional sum per window."""
    spans = {name: _span(cursor, end - length, end) for name, length in WINDOWS.items()}
    out: dict[str, dict[tuple[str, str], Sums]] = {name: {} for name in WINDOWS}
    for resolution in {res for res, _, _ in spans.values()}:
        mine = {name: span for name, span in spans.items() if span[0] == resolution}
        start = min(s for _, s, _ in mine.values())
        stop = max(e for _, _, e in mine.values())
        aggregates = {}
        for i, (_, s, e) in enumerate(mine.values()):
            inside = Q(time__gte=s, time__lt=e)
            timed = inside & Q(p95_ms__isnull=False)
            aggregates |= {
                f"r{i}": Sum("requests", filter=inside),
                f"b{i}": Sum("errors_5xx", filter=inside),
                f"w{i}": Sum(_WEIGHTED_P95, filter=timed),
                f"n{i}": Sum("requests", filter=timed),
            }
        rows = (
            HealthSample.objects.window(environment, resolution, start, stop)
            .values("service", "revision")
            .annotate(**aggregates)
            .order_by()
        )
        for row in rows:
            for i, (name, (_, s, e)) in enumerate(mine.items()):
                if row[f"r{i}"] is None:
                    continue  # the revision served nothing in this window
                out[name][row["service"], row["revision"]] = Sums(
                    row[f"r{i}"] or 0,
                    row[f"b{i}"] or 0,
                    (e - s).total_seconds(),
                    row[f"w{i}"] or 0.0,
                    row[f"n{i}"] or 0,
                )
    return out


def per_service(by_revision: dict[str, dict[tuple[str, str], Sums]]) -> dict[str, dict[str, Sums]]:
    """The revisions of each service summed: {window: {service: Sums}}."""
    out: dict[str, dict[str, Sums]] = {}
    for window, sums in by_revision.items():
        services = out.setdefault(window, {})
        for (service, _), part in sums.items():
            services[service] = services.get(service, Sums()) + part
    return out


def window_sums(environment, cursor, end: datetime) -> dict[str, dict[str, Sums]]:
    """{window: {service: Sums}} for every window of WINDOWS ending at `end`."""
    return per_service(revision_sums(environment, cursor, end))


_LATENCY_SQL = """
SELECT service, SUM(CASE WHEN p95 <= %s THEN 1 ELSE 0 END), COUNT(*) FROM (
    SELECT service, SUM(p95_ms * requests) / SUM(requests) AS p95
    FROM {table}
    WHERE environment_id = %s AND resolution = %s AND "time" >= %s AND "time" < %s
      AND p95_ms IS NOT NULL AND requests > 0
    GROUP BY service, "time"
) hours GROUP BY service
"""


def latency_hours(environment, end: datetime) -> dict[str, tuple[int, int]]:
    """{service: (hours whose P95 was within the SLO, hours with a P95)} over the SLO
    period: each hour's P95 request-weighted over the revisions that served it."""
    sql = _LATENCY_SQL.format(table=HealthSample._meta.db_table)
    as_stored = connection.ops.adapt_datetimefield_value  # SQLite keeps UTC as text
    params = [
        float(environment.slo_p95_ms),
        environment.pk,
        str(Resolution.HOUR),
        as_stored(floor_to(end - SLO_PERIOD, HOUR)),
        as_stored(ceil_to(end, HOUR)),
    ]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return {service: (int(good), int(hours)) for service, good, hours in cur.fetchall()}


def _figures(name, kind, sums, latency, environment, stale, age) -> ServiceFigures:
    target = float(environment.slo_uptime)
    recent, period = sums["5m"], sums["30d"]
    budget = slo.error_budget(period.totals, target)
    rates = {w: slo.burn_rate(sums[w].totals, target) for w in slo.BURN_WINDOWS}
    rps = recent.requests / recent.seconds if recent.requests else None
    good, hours = latency
    badge, reason = figures.status(
        stale=stale,
        age=age,
        requests_30d=period.requests,
        rps=rps,
        uptime_30d=slo.availability(period.totals),
        budget_left=budget.left,
        target=target,
        burn_1h=rates["1h"],
        bad_1h=sums["1h"].bad,
        min_bad=settings.HEALTH_ALERT_MIN_BAD_REQUESTS,
        p95_ms=recent.p95_ms,
        p95_slo=float(environment.slo_p95_ms),
    )
    return ServiceFigures(
        service=name,
        kind=kind,
        rps=rps,
        error_rate=recent.totals.error_rate,
        p95_ms=recent.p95_ms,
        requests_30d=period.requests,
        uptime_30d=slo.availability(period.totals),
        budget_left=budget.left,
        budget_consumed=budget.consumed,
        burn_rate=rates,
        latency_ok_30d=good / hours if hours else None,
        status=badge,
        status_reason=reason,
    )


def _context(environment, now):
    cursor = Collection.objects.filter(environment=environment).first()
    end = data_end(cursor, now)
    age = f"{cursor.sampled_at:%Y-%m-%d %H:%M} UTC" if cursor and cursor.sampled_at else ""
    return cursor, end, is_stale(cursor, now), age


@dataclass(frozen=True)
class Reading:
    """An environment's figures as one page reads them: every service's, the whole
    environment's, and the collector's cursor and live-state rows they came with."""

    cursor: Collection | None
    services: dict[str, ServiceFigures]
    overall: ServiceFigures
    live: dict[str, LiveService]
    recent_revisions: dict[tuple[str, str], Sums]  # the last 5 min of each revision


def read(environment, now: datetime, *, live: bool = True) -> Reading:
    """Every service with samples or a live-state row (sorted by name) and the whole
    environment (service "": every service's requests and errors together, the latency
    SLO over all its service-hours), from the same four queries (three without the
    live-state rows, which only name and type the services)."""
    cursor, end, stale, age = _context(environment, now)
    by_revision = revision_sums(environment, cursor, end)
    sums = per_service(by_revision)
    latency = latency_hours(environment, end)
    rows = LiveService.objects.filter(environment=environment) if live else []
    lives = {row.service: row for row in rows}
    names = set(lives) | {s for per_service in sums.values() for s in per_service}
    services = {
        name: _figures(
            name,
            lives[name].kind if name in lives else LiveKind.CLOUD_RUN,
            {w: sums[w].get(name, Sums()) for w in WINDOWS},
            latency.get(name, (0, 0)),
            environment,
            stale,
            age,
        )
        for name in sorted(names)
    }
    total = {w: sum(sums[w].values(), Sums()) for w in WINDOWS}
    hours = latency.values()
    whole = (sum(g for g, _ in hours), sum(n for _, n in hours))
    overall = _figures("", "environment", total, whole, environment, stale, age)
    return Reading(cursor, services, overall, lives, by_revision["5m"])


def service_figures(environment, now: datetime) -> dict[str, ServiceFigures]:
    """{service: figures}: see `read`."""
    return read(environment, now).services


def environment_figures(environment, now: datetime) -> ServiceFigures:
    """The whole environment as one service: see `read`."""
    return read(environment, now, live=False).overall


def series(environment, start: datetime, end: datetime, services=None) -> dict[str, list[Point]]:
    """{service: [Point]} over [start, end) for charts: minutes or hours as `_span`
    picks, coarsened to at most MAX_POINTS buckets (counts summed, P95 request-weighted
    over revisions). One query; buckets without samples are absent."""
    cursor = Collection.objects.filter(environment=environment).first()
    resolution, start, end = _span(cursor, start, end)
    step = MINUTE if resolution == Resolution.MINUTE else HOUR
    steps = max(1, -(-int((end - start) / step) // MAX_POINTS))
    width = int((step * steps).total_seconds())
    rows = HealthSample.objects.window(environment, resolution, start, end)
    if services is not None:
        rows = rows.filter(service__in=list(services))
    rows = (
        rows.annotate(bucket=_bucket(width))
        .values("service", "bucket")
        .annotate(
            total=Sum("requests"),  # not "requests": F("requests") would mean this sum
            bad=Sum("errors_5xx"),
            weight=Sum(_WEIGHTED_P95, filter=Q(p95_ms__isnull=False)),
            timed=Sum("requests", filter=Q(p95_ms__isnull=False)),
        )
        .order_by("service", "bucket")
    )
    out: dict[str, list[Point]] = {}
    for row in rows:
        at = datetime.fromtimestamp(int(row["bucket"]) * width, start.tzinfo)
        seconds = min(width, (end - at).total_seconds())
        n, bad = row["total"] or 0, row["bad"] or 0
        out.setdefault(row["service"], []).append(
            Point(
                time=at,
                requests=n,
                errors_5xx=bad,
                rps=n / seconds,
                error_rate=bad / n if n else None,
                p95_ms=row["weight"] / row["timed"] if row["timed"] else None,
            )
        )
    return out


def _bucket(width: int) -> RawSQL:
    """The bucket number of a sample's time: whole `width`-second slices of the epoch."""
    if connection.vendor == "postgresql":
        return RawSQL('FLOOR(EXTRACT(EPOCH FROM "time") / %s)', [width])
    return RawSQL("CAST(strftime('%%s', \"time\") AS INTEGER) / %s", [width])
