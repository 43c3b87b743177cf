"""Browser: a faulty canary in production (a real worker, the sandbox's traffic), sampled
by the real collector; the environment health page shows the canary revision's error
rate above the SLO line while the stable revision stays under it."""

import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deployments import services
from deployments.models import Rollout, RolloutState
from monitoring import collect
from tests.browser import sign_in
from tests.deployments.conftest import (  # noqa: F401 - fixtures used by name
    fast_plan,
    gcp,
    make_release,
    redis_conn,
    sandbox_server,
    slack,
    wait_for,
    worker,
)

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("worker", "fast_plan")
def test_the_health_page_shows_a_faulty_canary_above_the_slo_line(
    page,
    live_server,
    alice,
    bob,
    staging,
    production,
    make_release,  # noqa: F811
):
    production.bake_seconds = 600  # the canary holds its 5 % while we look
    production.save()
    release = make_release("1.5.0", services=("api-server",), tag="1.5.0-faulty")
    Rollout.objects.create(  # it passed staging already (promotion rule)
        release=release, environment=staging, started_by=alice, state=RolloutState.SUCCEEDED
    )
    rollout = services.start_rollout(alice, release, production, "canary")
    services.approve(bob, rollout)

    def canary_serving():
        rollout.refresh_from_db()
        return (
            rollout.state == RolloutState.CANARY and len(rollout.traffic.get("api-server", {})) == 2
        )

    wait_for(canary_serving, timeout=30, what="the canary at 5 %")
    split_at = timezone.now()
    # Monitoring answers whole minutes: wait for the minute the canary served in to end.
    time.sleep(62 - split_at.second)
    collect.sample_environment(production, timezone.now(), backfill_days=1)

    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/health/production/")

    api = page.locator('section.service-health[data-service="api-server"]')
    canary = api.locator(".live-split > div", has_text="canary")
    expect(canary).to_contain_text("5%")
    expect(canary.locator(".badge-bad")).to_have_text("above SLO line")
    rate = float(canary.locator(".revision-errors").get_attribute("data-error-rate"))
    assert 0.03 < rate < 0.08  # the sandbox's 5 % for a -faulty image
    stable = api.locator(".live-split > div", has_text="95%")
    expect(stable.locator(".badge-bad")).to_have_count(0)
    expect(api.locator("svg.sparkline, svg.chart").first).to_be_visible()
