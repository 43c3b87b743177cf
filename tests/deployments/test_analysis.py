"""Canary analysis: `judge` decides one service's step from the canary's and the stable
revision's figures. Pure: no database, no Google."""

from decimal import Decimal

from deployments.analysis import (
    FAIL,
    PASS,
    WAIT,
    WORSE_MIN_ERRORS,
    WORSE_P95_MARGIN_MS,
    WORSE_P95_RATIO,
    Thresholds,
    judge,
)
from platform_admin.gcp_monitoring import RevisionMetrics
from platform_admin.models import Environment

# 1% errors at most, P95 within 500 ms, 100 requests before a step can pass.
LIMITS = Thresholds(max_error_rate=0.01, p95_ms=500.0, min_requests=100)
STABLE = RevisionMetrics(requests=10_000, errors=10, p95_ms=100.0)  # 0.1% errors
HEALTHY = RevisionMetrics(requests=1_000, errors=1, p95_ms=110.0)  # 0.1% errors


def _judge(canary, stable=STABLE, limits=LIMITS, step=25):
    return judge("api-server", canary, stable, limits, step)


def test_a_healthy_canary_passes():
    verdict = _judge(HEALTHY)
    assert verdict.outcome == PASS
    assert verdict.service == "api-server"
    assert verdict.reason == "api-server canary healthy at step 25%"


def test_canary_fails_when_its_error_rate_exceeds_the_threshold():
    verdict = _judge(RevisionMetrics(requests=1_000, errors=11, p95_ms=110.0))  # 1.1%
    assert verdict.outcome == FAIL
    assert verdict.reason == "api-server canary error rate 1.1% > 1.0% at step 25%"


def test_an_error_rate_at_the_threshold_passes():
    stable = RevisionMetrics(requests=10_000, errors=100, p95_ms=100.0)  # 1%: not 2× worse
    assert _judge(RevisionMetrics(1_000, 10, 110.0), stable).outcome == PASS  # exactly 1%


def test_zero_requests_never_fail_on_error_rate_but_wait():
    no_traffic = RevisionMetrics(requests=0, errors=0, p95_ms=None)
    strict = Thresholds(max_error_rate=0.0, p95_ms=500.0, min_requests=100)
    verdict = _judge(no_traffic, limits=strict)
    assert verdict.outcome == WAIT
    assert "served 0 requests" in verdict.reason


def test_canary_fails_when_its_p95_exceeds_the_slo():
    verdict = _judge(RevisionMetrics(requests=1_000, errors=1, p95_ms=501.0))
    assert verdict.outcome == FAIL
    assert verdict.reason == "api-server canary P95 501 ms > SLO 500 ms at step 25%"


def test_a_p95_at_the_slo_is_judged_against_stable_only():
    stable = RevisionMetrics(requests=10_000, errors=10, p95_ms=400.0)
    assert _judge(RevisionMetrics(1_000, 1, 500.0), stable).outcome == PASS


def test_the_error_rate_threshold_is_reported_before_the_slo():
    verdict = _judge(RevisionMetrics(requests=1_000, errors=50, p95_ms=900.0))
    assert verdict.outcome == FAIL and "error rate 5.0% > 1.0%" in verdict.reason


def test_canary_fails_when_its_latency_is_clearly_worse_than_stable():
    limit = STABLE.p95_ms * WORSE_P95_RATIO + WORSE_P95_MARGIN_MS  # 175 ms, within the SLO
    verdict = _judge(RevisionMetrics(requests=1_000, errors=1, p95_ms=limit + 0.5))
    assert verdict.outcome == FAIL
    assert verdict.reason == (
        "api-server canary P95 176 ms is clearly worse than stable 100 ms at step 25%"
    )


def test_latency_just_inside_the_margin_over_stable_passes():
    limit = STABLE.p95_ms * WORSE_P95_RATIO + WORSE_P95_MARGIN_MS
    assert _judge(RevisionMetrics(requests=1_000, errors=1, p95_ms=limit)).outcome == PASS


def test_latency_is_not_compared_with_a_stable_revision_that_served_nothing():
    idle_stable = RevisionMetrics(requests=0, errors=0, p95_ms=10.0)
    assert _judge(RevisionMetrics(1_000, 1, 400.0), idle_stable).outcome == PASS


def test_canary_fails_when_its_error_rate_is_clearly_worse_than_stable():
    # 0.6% is within the 1% threshold but more than twice stable's 0.1%.
    verdict = _judge(RevisionMetrics(requests=1_000, errors=6, p95_ms=110.0))
    assert verdict.outcome == FAIL
    assert verdict.reason == (
        "api-server canary error rate 0.6% is clearly worse than stable 0.1% at step 25%"
    )


def test_fewer_than_the_minimum_errors_never_count_as_clearly_worse():
    few = RevisionMetrics(requests=1_000, errors=WORSE_MIN_ERRORS - 1, p95_ms=110.0)
    enough = RevisionMetrics(requests=1_000, errors=WORSE_MIN_ERRORS, p95_ms=110.0)
    assert _judge(few).outcome == PASS  # 0.4%: four times stable, but only four errors
    assert _judge(enough).outcome == FAIL


def test_canary_waits_while_it_has_served_too_few_requests():
    verdict = _judge(RevisionMetrics(requests=99, errors=0, p95_ms=110.0), step=5)
    assert verdict.outcome == WAIT
    assert verdict.reason == (
        "api-server canary served 99 requests, fewer than the 100 needed at step 5%"
    )


def test_too_few_requests_still_fail_on_a_clear_breach():
    verdict = _judge(RevisionMetrics(requests=50, errors=5, p95_ms=110.0))  # 10% errors
    assert verdict.outcome == FAIL


def test_without_a_stable_revision_only_the_thresholds_apply():
    slow_but_in_slo = RevisionMetrics(requests=1_000, errors=6, p95_ms=450.0)
    verdict = _judge(slow_but_in_slo, stable=None)
    assert verdict.outcome == PASS
    assert verdict.data["stable"] is None


def test_verdict_data_carries_thresholds_and_both_revisions_figures():
    canary = RevisionMetrics(requests=3, errors=1, p95_ms=123.456)
    verdict = _judge(canary, step=50)
    assert verdict.data == {
        "service": "api-server",
        "step": 50,
        "canary": {
            "requests": 3,
            "errors": 1,
            "error_rate": 0.333333,
            "p95_ms": 123.5,
            "cost_per_1k": None,
        },
        "stable": {
            "requests": 10_000,
            "errors": 10,
            "error_rate": 0.001,
            "p95_ms": 100.0,
            "cost_per_1k": None,
        },
        "thresholds": {
            "max_error_rate": 0.01,
            "p95_ms": 500.0,
            "min_requests": 100,
            "max_cost_ratio": 1.5,
        },
        "verdict": FAIL,
    }


def test_verdict_data_keeps_a_missing_p95_as_none():
    verdict = _judge(RevisionMetrics(requests=0, errors=0, p95_ms=None))
    assert verdict.data["canary"] == {
        "requests": 0,
        "errors": 0,
        "error_rate": 0.0,
        "p95_ms": None,
        "cost_per_1k": None,
    }
    assert verdict.data["verdict"] == WAIT


def test_thresholds_come_from_the_environment_as_plain_numbers():
    environment = Environment(
        slug="staging", max_error_rate=Decimal("0.005"), slo_p95_ms=200, min_requests=10
    )
    limits = Thresholds.of(environment)
    assert limits == Thresholds(max_error_rate=0.005, p95_ms=200.0, min_requests=10)
    assert isinstance(limits.max_error_rate, float) and isinstance(limits.p95_ms, float)
