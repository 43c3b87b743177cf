"""SLO arithmetic over health samples: availability, error budget, burn rates.

Pure functions over anything with `time`, `requests` and `errors_5xx` (samples or
plain tuples in tests). Availability counts a request as good unless the server
answered 5xx (4xx are the client's errors). `None` means "no data": a window without
requests has no availability and burns no budget, it is never a division by zero.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

BURN_WINDOWS = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
}
NO_DATA = "no data"


@dataclass(frozen=True)
class Totals:
    """Requests and server errors summed over a window."""

    requests: int
    bad: int  # 5xx

    @property
    def error_rate(self) -> float | None:
        return self.bad / self.requests if self.requests else None


def totals(samples: Iterable, start: datetime | None = None, end: datetime | None = None) -> Totals:
    """Sum of the samples whose bucket starts in [start, end) (open ends: all)."""
    requests = bad = 0
    for s in samples:
        if (start is None or s.time >= start) and (end is None or s.time < end):
            requests += s.requests
            bad += s.errors_5xx
    return Totals(requests, bad)


def availability(window: Totals) -> float | None:
    """Share of requests not answered 5xx; None without requests."""
    return 1 - window.bad / window.requests if window.requests else None


@dataclass(frozen=True)
class ErrorBudget:
    """The budget of bad requests a window's traffic allows under `target`."""

    target: float
    requests: int
    bad: int

    @property
    def allowed(self) -> float:
        """(1 − target) × requests: how many requests may fail."""
        return (1 - self.target) * self.requests

    @property
    def consumed(self) -> float | None:
        """Share of the budget spent (1.0 = all of it, above 1 = SLO breached)."""
        return self.bad / self.allowed if self.allowed else None

    @property
    def left(self) -> float | None:
        """Share of the budget still unspent (negative when overspent)."""
        consumed = self.consumed
        return None if consumed is None else 1 - consumed


def error_budget(window: Totals, target: float) -> ErrorBudget:
    return ErrorBudget(float(target), window.requests, window.bad)


def burn_rate(window: Totals, target: float) -> float | None:
    """Error rate ÷ (1 − target): 1 spends the budget exactly over the SLO period."""
    rate = window.error_rate
    allowed_rate = 1 - float(target)
    if rate is None or allowed_rate <= 0:
        return None
    return rate / allowed_rate


def burn_rates(samples: Iterable, target: float, now: datetime) -> dict[str, float | None]:
    """Burn rate over the last 1 h, 6 h, 1 d and 3 d before `now`."""
    rows = list(samples)
    return {
        name: burn_rate(totals(rows, now - length, now), target)
        for name, length in BURN_WINDOWS.items()
    }


def describe(value: float | None, digits: int = 2) -> str:
    """A figure for a page or a message, "no data" where there is none."""
    return NO_DATA if value is None else f"{value:.{digits}f}"
