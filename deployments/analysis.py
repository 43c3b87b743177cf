"""Canary analysis: the canary revision against thresholds and against the stable revision.

Kayenta-style, simplified: the same window for both revisions, absolute thresholds from
the environment (error rate, P95 SLO, minimum requests), and a "clearly worse than
stable" test so a canary that is within the SLO but much slower or flakier still fails.
"""

from dataclasses import dataclass
from datetime import datetime

from costs.services import instance_second_prices
from monitoring.canary import NO_REQUESTS, revision_figures

PASS, FAIL, WAIT = "pass", "fail", "inconclusive"
# "Clearly worse than stable": P95 more than 1.5× stable plus 25 ms, or an error rate
# more than twice stable's with at least 5 errors (so one unlucky request decides nothing).
WORSE_P95_RATIO = 1.5
WORSE_P95_MARGIN_MS = 25.0
WORSE_ERROR_RATIO = 2.0
WORSE_MIN_ERRORS = 5


@dataclass(frozen=True)
class Thresholds:
    max_error_rate: float
    p95_ms: float
    min_requests: int
    max_cost_ratio: float = 1.5

    @classmethod
    def of(cls, environment) -> "Thresholds":
        return cls(
            max_error_rate=float(environment.max_error_rate),
            p95_ms=float(environment.slo_p95_ms),
            min_requests=int(environment.min_requests),
            max_cost_ratio=float(environment.max_cost_ratio),
        )


def cost_per_1k(metrics, price) -> float | None:
    """What 1,000 of the revision's requests cost to serve: its billable instance
    seconds × the list price of an instance-second ÷ its requests × 1,000."""
    if price is None or metrics.instance_seconds is None or not metrics.requests:
        return None
    return metrics.instance_seconds * float(price) / metrics.requests * 1000


@dataclass(frozen=True)
class Verdict:
    service: str
    outcome: str  # PASS | FAIL | WAIT
    reason: str
    data: dict


def _numbers(metrics, price=None) -> dict:
    cost = cost_per_1k(metrics, price)
    return {
        "requests": metrics.requests,
        "errors": metrics.errors,
        "error_rate": round(metrics.error_rate, 6),
        "p95_ms": None if metrics.p95_ms is None else round(metrics.p95_ms, 1),
        "cost_per_1k": None if cost is None else round(cost, 6),
    }


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def judge(
    service: str,
    canary,
    stable,
    limits: Thresholds,
    step_pct: int,
    phase: str = "",
    prices: tuple = (None, None),
) -> Verdict:
    """Decide one service's step from the two revisions' metrics (pure: no I/O). `phase`
    names the window in the reasons (default: the step): outside a canary step the
    revision is "the new revision", not "the canary". `prices`: an instance-second's list
    price for the canary and for stable (cost per request; None: not judged)."""
    at = phase or f"at step {step_pct}%"
    who = f"{service} new revision" if phase else f"{service} canary"
    reason = ""
    outcome = PASS
    if canary.error_rate > limits.max_error_rate and canary.requests > 0:
        outcome = FAIL
        reason = f"{who} error rate {_pct(canary.error_rate)} > {_pct(limits.max_error_rate)} {at}"
    elif canary.p95_ms is not None and canary.p95_ms > limits.p95_ms:
        outcome = FAIL
        reason = f"{who} P95 {canary.p95_ms:.0f} ms > SLO {limits.p95_ms:.0f} ms {at}"
    elif _clearly_worse_latency(canary, stable):
        outcome = FAIL
        reason = (
            f"{who} P95 {canary.p95_ms:.0f} ms is clearly worse than stable "
            f"{stable.p95_ms:.0f} ms {at}"
        )
    elif _clearly_worse_errors(canary, stable):
        outcome = FAIL
        reason = (
            f"{who} error rate {_pct(canary.error_rate)} is clearly worse than "
            f"stable {_pct(stable.error_rate)} {at}"
        )
    elif _costs_more(canary, stable, limits, prices):
        outcome = FAIL
        mine, theirs = cost_per_1k(canary, prices[0]), cost_per_1k(stable, prices[1])
        reason = (
            f"{who} costs ${mine:.4f} per 1,000 requests, {mine / theirs:.1f}× stable's "
            f"${theirs:.4f} (limit {limits.max_cost_ratio:g}×) {at}"
        )
    elif canary.requests < limits.min_requests:
        outcome = WAIT
        reason = (
            f"{who} served {canary.requests} requests, fewer than the "
            f"{limits.min_requests} needed {at}"
        )
    data = {
        "service": service,
        "step": step_pct,
        "canary": _numbers(canary, prices[0]),
        "stable": _numbers(stable, prices[1]) if stable is not None else None,
        "thresholds": {
            "max_error_rate": limits.max_error_rate,
            "p95_ms": limits.p95_ms,
            "min_requests": limits.min_requests,
            "max_cost_ratio": limits.max_cost_ratio,
        },
        "verdict": outcome,
    }
    return Verdict(service, outcome, reason or f"{who} healthy {at}", data)


def _costs_more(canary, stable, limits: Thresholds, prices: tuple) -> bool:
    """The canary costs more than max_cost_ratio × stable per request, both having served
    enough requests to tell."""
    if stable is None or min(canary.requests, stable.requests) < limits.min_requests:
        return False
    mine, theirs = cost_per_1k(canary, prices[0]), cost_per_1k(stable, prices[1])
    if mine is None or not theirs:
        return False
    return mine > theirs * limits.max_cost_ratio


def _clearly_worse_latency(canary, stable) -> bool:
    if stable is None or canary.p95_ms is None or stable.p95_ms is None or not stable.requests:
        return False
    return canary.p95_ms > stable.p95_ms * WORSE_P95_RATIO + WORSE_P95_MARGIN_MS


def _clearly_worse_errors(canary, stable) -> bool:
    if stable is None or not stable.requests or canary.errors < WORSE_MIN_ERRORS:
        return False
    return canary.error_rate > stable.error_rate * WORSE_ERROR_RATIO


def analyse(
    environment,
    revisions: dict[str, tuple[str, str | None]],
    start: datetime,
    end: datetime,
    step_pct: int,
    phase: str = "",
    resources: dict | None = None,
) -> list[Verdict]:
    """Judge each service's canary on its figures over [start, end] (`monitoring`).

    `revisions` is {service: (canary revision, stable revision or None)}; verdicts come in
    the order of `revisions`. `resources`: what the release sets per service (the
    canary's instance-second price follows them).
    """
    figures = revision_figures(
        environment, {s: [c, st] for s, (c, st) in revisions.items()}, start, end
    )
    limits = Thresholds.of(environment)
    prices = instance_second_prices(environment, resources)
    verdicts = []
    for service, (canary_rev, stable_rev) in revisions.items():
        canary = figures[service].get(canary_rev, NO_REQUESTS)
        stable = None
        if stable_rev and stable_rev != canary_rev:
            stable = figures[service].get(stable_rev, NO_REQUESTS)
        verdicts.append(
            judge(
                service, canary, stable, limits, step_pct, phase, prices.get(service, (None, None))
            )
        )
    return verdicts
