"""Cost per 1,000 requests as a canary signal: Cloud Monitoring's billable instance time
per revision × the list price of an instance-second ÷ its requests, for the canary and
for stable; a canary that costs more than max_cost_ratio × stable fails its step."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from costs import prices
from costs.services import instance_second_prices
from deployments import analysis, services
from deployments.models import RolloutState
from monitoring.canary import revision_figures
from platform_admin.gcp_monitoring import RevisionMetrics
from tests.deployments.conftest import live_split, wait_for_state

S = RolloutState
RUN = ("api-server", "realtime", "agent")
LIMITS = analysis.Thresholds(max_error_rate=0.005, p95_ms=500, min_requests=100)


def _rev(requests, seconds):
    return RevisionMetrics(requests=requests, errors=0, p95_ms=100.0, instance_seconds=seconds)


def test_a_canary_costing_more_than_stable_per_request_fails_with_the_reason():
    price = Decimal("0.000029")  # 1 vCPU + 2 GiB, request-based
    verdict = analysis.judge(
        "agent", _rev(1000, 100.0), _rev(25000, 1000.0), LIMITS, 25, prices=(price, price)
    )

    assert verdict.outcome == analysis.FAIL
    # 100 s × $0.000029 ÷ 1,000 requests × 1,000 = $0.0029; stable 1,000 s for 25,000.
    assert verdict.reason == (
        "agent canary costs $0.0029 per 1,000 requests, 2.5× stable's $0.0012 "
        "(limit 1.5×) at step 25%"
    )
    assert verdict.data["canary"]["cost_per_1k"] == pytest.approx(0.0029)
    assert verdict.data["stable"]["cost_per_1k"] == pytest.approx(0.00116)


def test_a_little_dearer_canary_or_too_few_requests_is_not_judged_on_cost():
    price = Decimal("0.000029")
    dearer = analysis.judge(
        "agent", _rev(1000, 60.0), _rev(20000, 1000.0), LIMITS, 25, prices=(price, price)
    )
    few = analysis.judge(
        "agent", _rev(50, 50.0), _rev(20000, 1000.0), LIMITS, 25, prices=(price, price)
    )
    unpriced = analysis.judge("agent", _rev(1000, 500.0), _rev(20000, 1000.0), LIMITS, 25)

    assert dearer.outcome == analysis.PASS  # 1.2× stable
    assert few.outcome == analysis.WAIT and "fewer than the 100 needed" in few.reason
    assert unpriced.outcome == analysis.PASS and unpriced.data["canary"]["cost_per_1k"] is None


def test_the_price_of_an_instance_second_follows_the_spec_and_the_releases_resources(gcp, staging):
    prices.refresh(actor="test")

    with_release = instance_second_prices(staging, {"agent": {"memory_gib": "4"}})

    # agent: request-based, 1 vCPU, 2 GiB; the sandbox catalog's prices past the free tier.
    assert with_release["agent"] == (
        Decimal("0.000024") + 4 * Decimal("0.0000025"),
        Decimal("0.000024") + 2 * Decimal("0.0000025"),
    )
    # api-server: instance-based, 1 vCPU, 1 GiB; the release does not change it.
    assert with_release["api-server"] == (Decimal("0.000020"), Decimal("0.000020"))


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_reports_billable_instance_time_per_revision(worker, gcp, staging):
    now = timezone.now()
    stable = next(iter(live_split(gcp, staging, "agent")))

    figures = revision_figures(staging, {"agent": [stable]}, now - timedelta(minutes=5), now)

    agent = figures["agent"][stable]
    # 0.05 s of instance time per request in the sandbox, within its 3 % noise.
    assert agent.instance_seconds == pytest.approx(agent.requests * 0.05, rel=0.05)


@pytest.mark.django_db(transaction=True)
def test_a_costlier_canary_is_rolled_back_with_the_reason(
    worker, fast_plan, staging, alice, make_release
):
    prices.refresh(actor="test")
    release = make_release("7.0.0", services=("agent",), tag="7.0.0-costly")

    rollout = services.start_rollout(alice, release, staging, "canary")
    wait_for_state(rollout, S.ROLLED_BACK)

    assert "agent canary costs $" in rollout.message
    assert "per 1,000 requests," in rollout.message and "× stable's $" in rollout.message
    assert "(limit 1.5×) at step 5%" in rollout.message
    analysis_event = rollout.events.filter(kind="analysis").last()
    canary, stable = analysis_event.data["canary"], analysis_event.data["stable"]
    assert canary["cost_per_1k"] == pytest.approx(2 * stable["cost_per_1k"], rel=0.1)


@pytest.mark.django_db(transaction=True)
def test_a_release_of_the_same_cost_goes_out(worker, fast_plan, staging, alice, make_release):
    prices.refresh(actor="test")
    release = make_release("7.1.0", services=("agent",))

    rollout = services.start_rollout(alice, release, staging, "canary")
    wait_for_state(rollout, S.SUCCEEDED)

    costs = [e.data["canary"]["cost_per_1k"] for e in rollout.events.filter(kind="analysis")]
    assert costs and all(c is not None for c in costs)
