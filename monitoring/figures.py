"""What a page says about one service (or a whole environment): the figures and the
status badge derived from them. Plain data built by `monitoring.readings`."""

from dataclasses import dataclass, field
from datetime import datetime

HEALTHY, BURNING, BREACHED, NO_DATA, STALE = (
    "healthy",
    "burning budget",
    "SLO breached",
    "no data",
    "stale",
)
STATUSES = (HEALTHY, BURNING, BREACHED, NO_DATA, STALE)


@dataclass(frozen=True)
class ServiceFigures:
    """One service's recent traffic and its SLO standing over the rolling 30 days.

    Shares are fractions (0.999, not 99.9); None = no data for that figure.
    """

    service: str
    kind: str  # "cloud_run" | "gce_vm"
    rps: float | None  # requests/s over the last 5 min
    error_rate: float | None  # 5xx share, last 5 min
    p95_ms: float | None  # last 5 min, request-weighted over revisions
    requests_30d: int
    uptime_30d: float | None  # non-5xx share (VM: share of probes that passed)
    budget_left: float | None  # share of the 30-day error budget left; < 0 overspent
    budget_consumed: float | None
    burn_rate: dict[str, float | None] = field(default_factory=dict)  # 1h, 6h, 1d, 3d
    latency_ok_30d: float | None = None  # share of hours whose P95 was within the SLO
    status: str = NO_DATA
    status_reason: str = ""


@dataclass(frozen=True)
class Point:
    """One chart bucket: counts summed, P95 request-weighted over revisions."""

    time: datetime
    requests: int
    errors_5xx: int
    rps: float
    error_rate: float | None
    p95_ms: float | None


def _pct(share: float) -> str:
    return f"{share * 100:.2f}%"


def status(
    *,
    stale: bool,
    age: str,
    requests_30d: int,
    rps: float | None,
    uptime_30d: float | None,
    budget_left: float | None,
    target: float,
    burn_1h: float | None,
    bad_1h: int,
    min_bad: int,
    p95_ms: float | None,
    p95_slo: float,
) -> tuple[str, str]:
    """The badge and the sentence explaining it, worst first: stale data says nothing
    about now; a spent budget is a breach; a fast burn or a slow P95 is a warning."""
    if stale:
        return STALE, f"No health sample since {age}." if age else "Never sampled."
    if not requests_30d and rps is None:
        return NO_DATA, "No requests recorded in the last 30 days."
    if budget_left is not None and budget_left < 0:
        return BREACHED, (
            f"30-day uptime {_pct(uptime_30d)} is below the {_pct(target)} target: "
            "the error budget is spent."
        )
    if burn_1h is not None and burn_1h > 1 and bad_1h >= min_bad:
        return BURNING, (
            f"Burning error budget {burn_1h:.1f}× faster than the SLO allows over the last hour."
        )
    if p95_ms is not None and p95_ms > p95_slo:
        return BURNING, f"P95 {p95_ms:.0f} ms over the last 5 min, above the {p95_slo:g} ms SLO."
    return HEALTHY, "Within its SLO."
