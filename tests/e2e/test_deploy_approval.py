"""Browser: alice starts a production rollout, bob approves it, both pages follow it live."""

import pytest
from playwright.sync_api import expect

from deployments.models import Rollout, RolloutState
from tests.browser import sign_in
from tests.deployments.conftest import (  # noqa: F401 - fixtures used by name
    fast_plan,
    gcp,
    make_release,
    redis_conn,
    sandbox_server,
    slack,
    worker,
)

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("worker", "fast_plan")
def test_alice_starts_bob_approves_both_watch_it_finish(
    page,
    browser,
    live_server,
    alice,
    bob,
    staging,
    production,
    make_release,  # noqa: F811
):
    release = make_release("1.4.0")
    Rollout.objects.create(  # it passed staging already (promotion rule)
        release=release, environment=staging, started_by=alice, state=RolloutState.SUCCEEDED
    )
    base = live_server.url
    sign_in(page, base, "alice")
    page.goto(f"{base}/deployments/environments/production/deploy/?release=1.4.0")
    expect(page.locator("table.diff")).to_contain_text("api-server")
    page.click("#start-rollout")
    page.wait_for_url("**/deployments/rollouts/*/")
    badge = page.locator(".rollout-live .badge")
    expect(badge).to_have_attribute("data-state", "pending_approval")
    expect(page.locator("[data-action=approve]")).to_have_count(0)  # not for the starter

    bob_context = browser.new_context()
    bob_page = bob_context.new_page()
    try:
        sign_in(bob_page, base, "bob")
        bob_page.goto(page.url)
        bob_page.click("[data-action=approve]")
        bob_badge = bob_page.locator(".rollout-live .badge")
        # Both pages advance without a reload: the fragment polling does it.
        expect(badge).to_have_attribute("data-state", "canary", timeout=30_000)
        expect(page.locator(".steps li.current")).to_be_visible()
        expect(badge).to_have_attribute("data-state", "succeeded", timeout=60_000)
        expect(bob_badge).to_have_attribute("data-state", "succeeded", timeout=10_000)
        expect(page.locator("table.traffic")).to_contain_text("100%")
        expect(page.locator("table.analyses")).to_contain_text("pass")
    finally:
        bob_context.close()
