"""What the Health pages show, built from the database only (never a Google call): the
figures of `readings`, the live state the collector left, charts, rollouts from the
platform's timeline. A bounded number of queries per page, whatever the history."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from django.db import connection
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse

from monitoring import compliance, readings
from monitoring.collect import MINUTE, floor_to
from monitoring.figures import ServiceFigures
from monitoring.models import AlertEpisode, Collection, LiveKind, LiveService
from platform_admin import page_cache
from platform_admin.charts import Mark, line_chart, sparkline
from platform_admin.models import Environment
from platform_admin.timeline import release_images, release_of, rollout_marks

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
WINDOWS["30d"] = timedelta(days=30)
SPARK_WINDOW = timedelta(days=1)
RECENT_EPISODES = 10
LATENCY_SLO = (
    "Latency SLO: the P95 of each hour against the threshold; the figure is the share of "
    "hours whose P95 was within it."
)


def pct(value: float | None, digits: int = 2) -> str:
    return "no data" if value is None else f"{value * 100:.{digits}f}%"


def ms(value: float | None) -> str:
    return "no data" if value is None else f"{value:.0f} ms"


def rps(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f}/s"


@dataclass
class LiveRow:
    revision: str
    percent: int
    tag: str
    image: str
    release: str
    error_rate: float | None = None  # this revision's, over the last 5 minutes
    p95_ms: float | None = None
    above_error_line: bool = False


@dataclass
class ServiceView:
    """One service's line on a page: figures, live state, charts."""

    figures: ServiceFigures
    live: LiveService | None
    revisions: list[LiveRow] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)
    above_error_line: bool = False  # the last 5 min's error rate over the canary's limit

    @property
    def name(self) -> str:
        return self.figures.service

    @property
    def is_vm(self) -> bool:
        return self.figures.kind == LiveKind.GCE_VM

    @property
    def is_site(self) -> bool:
        return self.figures.kind == LiveKind.STATIC_SITE

    @property
    def is_probed(self) -> bool:
        """Measured by the dashboard's probe (a VM, a static site), not by requests."""
        return self.is_vm or self.is_site


def _live_rows(
    live: LiveService | None, images: dict[str, str], recent: dict, limit: float
) -> list[LiveRow]:
    """The revisions serving (or tagged), each with its own last-5-minute error rate and
    P95: a faulty canary shows above the line even while its share of the service's
    traffic keeps the service's figure under it."""
    if live is None:
        return []
    if live.kind == LiveKind.GCE_VM:
        return [LiveRow("", 100, "", live.image, "")]
    if live.kind == LiveKind.STATIC_SITE:
        return [LiveRow("", 100, "", live.image, release_of(live.image, images))]
    release = release_of(live.image, images)
    rows = []
    for entry in live.traffic:
        if not (entry["percent"] or entry.get("tag")):
            continue
        revision = entry["revision"]
        sums = recent.get((live.service, revision))
        error_rate = sums.totals.error_rate if sums else None
        newest = revision == live.latest_ready_revision
        rows.append(
            LiveRow(
                revision,
                entry["percent"],
                entry.get("tag") or "",
                live.image if newest else "",
                release if newest else "",
                error_rate=error_rate,
                p95_ms=sums.p95_ms if sums else None,
                above_error_line=error_rate is not None and error_rate > limit,
            )
        )
    return rows


def _marks(slug: str, start: datetime, end: datetime) -> list[Mark]:
    return [
        Mark(m.time, f"{m.release} {m.what} by {m.actor} at {m.time:%Y-%m-%d %H:%M} UTC")
        for m in rollout_marks([slug], since=start, until=end)
    ]


# (key, title, the figure of a point, the SLO line of the environment, its format)
CHARTS = (
    ("rps", "Requests per second", lambda p: p.rps, None, lambda v: f"{v:.1f}/s"),
    (
        "error_rate",
        "Error rate (5xx)",
        lambda p: p.error_rate,
        lambda env: float(env.max_error_rate),
        lambda v: f"{v * 100:.2f}%",
    ),
    (
        "p95",
        "P95 latency",
        lambda p: p.p95_ms,
        lambda env: float(env.slo_p95_ms),
        lambda v: f"{v:.0f} ms",
    ),
)


def _charts(environment, points, start, end, marks, small: bool) -> dict[str, str]:
    draw = sparkline if small else line_chart
    return {
        key: draw(
            [(p.time, value(p)) for p in points],
            start=start,
            end=end,
            title=title,
            threshold=line(environment) if line else None,
            threshold_label="SLO" if line else "",
            marks=marks,
            y_format=fmt,
        )
        for key, title, value, line, fmt in CHARTS
    }


def _views(environment, reading: readings.Reading, images: dict[str, str]) -> list[ServiceView]:
    """One view per service of the reading, with its live rows; charts are added by
    the pages that draw them."""
    limit = float(environment.max_error_rate)
    return [
        ServiceView(
            figures,
            reading.live.get(name),
            _live_rows(reading.live.get(name), images, reading.recent_revisions, limit),
            above_error_line=figures.error_rate is not None and figures.error_rate > limit,
        )
        for name, figures in reading.services.items()
    ]


def environment_page(environment, now: datetime) -> dict:
    """Everything the environment health page shows."""
    reading = readings.read(environment, now)
    start = now - SPARK_WINDOW
    marks = _marks(environment.slug, start, now)
    points = readings.series(environment, start, now)
    services = _views(environment, reading, release_images())
    for view in services:
        view.charts = _charts(environment, points.get(view.name, []), start, now, marks, True)
    return {
        "environment": environment,
        "overall": reading.overall,
        "services": services,
        "collection": reading.cursor,
        "episodes": list(AlertEpisode.objects.filter(environment=environment)[:RECENT_EPISODES]),
        "months": compliance.months(environment, now),
        "rollouts": rollout_marks([environment.slug], since=now - timedelta(days=7), limit=20),
        "latency_slo": LATENCY_SLO,
        "now": now,
    }


class PageVersions(NamedTuple):
    """An environment's health page as one request needs it before its cached content:
    what says whether the content changed (the collector's generation, the audit
    version), and the name the title shows."""

    pk: int
    name: str
    health_generation: int
    audit_version: int


def environment_for_page(slug: str) -> PageVersions:
    """The environment's page versions: one query, run by every request of the page.

    Written in SQL: the ORM compiled this join and subquery anew on each request, which
    cost three times the query's own round trip and was the page's largest cost beyond
    the session and the user."""
    with connection.cursor() as cursor:
        cursor.execute(_versions_sql(), [slug])
        row = cursor.fetchone()
    if row is None:
        raise Http404(f"No environment {slug}")
    return PageVersions(*row)


@cache
def _versions_sql() -> str:
    q = connection.ops.quote_name
    env, collection = q(Environment._meta.db_table), q(Collection._meta.db_table)
    return (
        f"SELECT e.id, e.name, COALESCE(c.generation, 0), "  # noqa: S608 - our own tables
        f"{page_cache.audit_version_sql()} FROM {env} e "
        f"LEFT JOIN {collection} c ON c.environment_id = e.id WHERE e.slug = %s"
    )


def environment_html(versions: PageVersions, now: datetime) -> str:
    """The environment health page's content (versions from `environment_for_page`),
    rendered once per collection pass, minute (the data's age is in minutes) and audited
    change."""
    minute = int(floor_to(now, MINUTE).timestamp())
    return page_cache.part(
        "health-environment",
        (versions.pk, versions.health_generation, versions.audit_version, minute),
        lambda: render_to_string(
            "monitoring/_environment.html",
            environment_page(Environment.objects.get(pk=versions.pk), now),
        ),
    )


def _no_data(service: str) -> ServiceFigures:
    """A service of the platform file nothing has been collected for yet."""
    return ServiceFigures(service, LiveKind.CLOUD_RUN, None, None, None, 0, None, None, None)


def service_page(environment, service: str, window: str, now: datetime) -> dict:
    """One service over the chosen window, its live split and its rollouts."""
    start = now - WINDOWS[window]
    reading = readings.read(environment, now)
    views = {view.name: view for view in _views(environment, reading, release_images())}
    view = views.get(service) or ServiceView(_no_data(service), None)
    points = readings.series(environment, start, now, services=[service]).get(service, [])
    view.charts = _charts(
        environment, points, start, now, _marks(environment.slug, start, now), False
    )
    return {
        "environment": environment,
        "service": view,
        "window": window,
        "windows": list(WINDOWS),
        "rollouts": rollout_marks([environment.slug], since=now - timedelta(days=30), limit=50),
        "episodes": list(
            AlertEpisode.objects.filter(environment=environment, service=service)[:RECENT_EPISODES]
        ),
        "collection": reading.cursor,
        "now": now,
    }


def overview_rows(environments, now: datetime) -> list[dict]:
    """The health overview: each environment with its services' badges."""
    images = release_images()
    rows = []
    for env in environments:
        reading = readings.read(env, now)
        rows.append(
            {
                "environment": env,
                "overall": reading.overall,
                "services": _views(env, reading, images),
                "release": live_release(reading.live.values(), images),
                "url": reverse("monitoring:environment", args=[env.slug]),
            }
        )
    return rows


def live_release(lives, images: dict[str, str]) -> str:
    """The release the environment's services serve, from their images: one version when
    they agree, the versions joined when they do not, "" when none is known."""
    versions = sorted(
        {release_of(live.image, images) for live in lives if live.kind != LiveKind.GCE_VM} - {""}
    )
    return ", ".join(versions)


def api_health(environment, now: datetime) -> dict:
    """The JSON of GET /api/v1/environments/SLUG/health."""
    reading = readings.read(environment, now)
    services = {}
    for view in _views(environment, reading, release_images()):
        f = view.figures
        services[view.name] = {
            "kind": f.kind,
            "live": [
                {
                    "revision": r.revision,
                    "percent": r.percent,
                    "image": r.image,
                    "release": r.release,
                    "error_rate": r.error_rate,
                    "p95_ms": r.p95_ms,
                }
                for r in view.revisions
            ],
            "rps": f.rps,
            "error_rate": f.error_rate,
            "p95_ms": f.p95_ms,
            "slo": {"p95_ms": environment.slo_p95_ms, "uptime": float(environment.slo_uptime)},
            "uptime_30d": f.uptime_30d,
            "error_budget_left": f.budget_left,
            "burn_rate": {"1h": f.burn_rate.get("1h"), "6h": f.burn_rate.get("6h")},
            "status": f.status,
        }
    as_of = reading.cursor.sampled_at if reading.cursor else None
    return {
        "environment": environment.slug,
        "as_of": as_of.isoformat() if as_of else None,
        "services": services,
    }
