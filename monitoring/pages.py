"""What the Health pages show, built from the database only (never a Google call): the
figures of `readings`, the live state the collector left, charts, rollouts from the
platform's timeline. A bounded number of queries per page, whatever the history."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.urls import reverse

from monitoring import compliance, readings
from monitoring.figures import ServiceFigures
from monitoring.models import AlertEpisode, Collection, LiveKind, LiveService
from platform_admin.charts import Mark, line_chart, sparkline
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


@dataclass
class ServiceView:
    """One service's line on a page: figures, live state, charts."""

    figures: ServiceFigures
    live: LiveService | None
    revisions: list[LiveRow] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.figures.service

    @property
    def is_vm(self) -> bool:
        return self.figures.kind == LiveKind.GCE_VM


def _live_rows(live: LiveService | None, images: dict[str, str]) -> list[LiveRow]:
    if live is None:
        return []
    if live.kind == LiveKind.GCE_VM:
        return [LiveRow("", 100, "", live.image, "")]
    release = release_of(live.image, images)
    return [
        LiveRow(
            entry["revision"],
            entry["percent"],
            entry.get("tag") or "",
            live.image if entry["revision"] == live.latest_ready_revision else "",
            release if entry["revision"] == live.latest_ready_revision else "",
        )
        for entry in live.traffic
        if entry["percent"] or entry.get("tag")
    ]


def _marks(slug: str, start: datetime, end: datetime) -> list[Mark]:
    return [
        Mark(m.time, f"{m.release} {m.what} by {m.actor} at {m.time:%Y-%m-%d %H:%M} UTC")
        for m in rollout_marks([slug], since=start, until=end)
    ]


def _charts(environment, points, start, end, marks, small: bool) -> dict[str, str]:
    draw = sparkline if small else line_chart
    return {
        "rps": draw(
            [(p.time, p.rps) for p in points],
            start=start,
            end=end,
            title="Requests per second",
            marks=marks,
            y_format=lambda v: f"{v:.1f}/s",
        ),
        "error_rate": draw(
            [(p.time, p.error_rate) for p in points],
            start=start,
            end=end,
            title="Error rate (5xx)",
            threshold=float(environment.max_error_rate),
            threshold_label="SLO",
            marks=marks,
            y_format=lambda v: f"{v * 100:.2f}%",
        ),
        "p95": draw(
            [(p.time, p.p95_ms) for p in points],
            start=start,
            end=end,
            title="P95 latency",
            threshold=float(environment.slo_p95_ms),
            threshold_label="SLO",
            marks=marks,
            y_format=lambda v: f"{v:.0f} ms",
        ),
    }


def environment_page(environment, now: datetime) -> dict:
    """Everything the environment health page shows."""
    figures = readings.service_figures(environment, now)
    lives = {live.service: live for live in LiveService.objects.filter(environment=environment)}
    images = release_images()
    start = now - SPARK_WINDOW
    marks = _marks(environment.slug, start, now)
    points = readings.series(environment, start, now)
    services = []
    for name in sorted(set(figures) | set(lives)):
        row = figures.get(name) or _empty(name, lives[name].kind)
        view = ServiceView(row, lives.get(name), _live_rows(lives.get(name), images))
        view.charts = _charts(environment, points.get(name, []), start, now, marks, small=True)
        services.append(view)
    return {
        "environment": environment,
        "overall": readings.environment_figures(environment, now),
        "services": services,
        "collection": Collection.objects.filter(environment=environment).first(),
        "episodes": list(AlertEpisode.objects.filter(environment=environment)[:RECENT_EPISODES]),
        "months": compliance.months(environment, now),
        "rollouts": rollout_marks([environment.slug], since=now - timedelta(days=7), limit=20),
        "latency_slo": LATENCY_SLO,
        "now": now,
    }


def _empty(name: str, kind: str) -> ServiceFigures:
    return ServiceFigures(name, kind, None, None, None, 0, None, None, None, {}, None)


def service_page(environment, service: str, window: str, now: datetime) -> dict:
    """One service over the chosen window, its live split and its rollouts."""
    length = WINDOWS[window]
    start = now - length
    marks = _marks(environment.slug, start, now)
    points = readings.series(environment, start, now, services=[service]).get(service, [])
    figures = readings.service_figures(environment, now).get(service) or _empty(
        service, LiveKind.CLOUD_RUN
    )
    live = LiveService.objects.filter(environment=environment, service=service).first()
    return {
        "environment": environment,
        "service": ServiceView(
            figures,
            live,
            _live_rows(live, release_images()),
            _charts(environment, points, start, now, marks, small=False),
        ),
        "window": window,
        "windows": list(WINDOWS),
        "rollouts": [
            m for m in rollout_marks([environment.slug], since=now - timedelta(days=30), limit=50)
        ],
        "episodes": list(
            AlertEpisode.objects.filter(environment=environment, service=service)[:RECENT_EPISODES]
        ),
        "collection": Collection.objects.filter(environment=environment).first(),
        "now": now,
    }


def overview_rows(environments, now: datetime) -> list[dict]:
    """The health overview: each environment with its services' badges."""
    images = release_images()
    rows = []
    for env in environments:
        figures = readings.service_figures(env, now)
        lives = {live.service: live for live in LiveService.objects.filter(environment=env)}
        rows.append(
            {
                "environment": env,
                "overall": readings.environment_figures(env, now),
                "services": [
                    ServiceView(f, lives.get(name), _live_rows(lives.get(name), images))
                    for name, f in figures.items()
                ],
                "release": live_release(lives.values(), images),
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
    figures = readings.service_figures(environment, now)
    lives = {live.service: live for live in LiveService.objects.filter(environment=environment)}
    images = release_images()
    collection = Collection.objects.filter(environment=environment).first()
    services = {}
    for name in sorted(set(figures) | set(lives)):
        f = figures.get(name) or _empty(name, lives[name].kind)
        services[name] = {
            "kind": f.kind,
            "live": [
                {
                    "revision": r.revision,
                    "percent": r.percent,
                    "image": r.image,
                    "release": r.release,
                }
                for r in _live_rows(lives.get(name), images)
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
    as_of = collection.sampled_at if collection else None
    return {
        "environment": environment.slug,
        "as_of": as_of.isoformat() if as_of else None,
        "services": services,
    }
