"""Browser: a release carrying Cloud Run services, the LiveKit VM and the frontend goes to
staging (verified), then canaries to production with bob's approval; the frontend's
public URL serves the new build. A faulty release is rolled back by staging's verify
phase, the reason on its page."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
import pytest
import requests
from playwright.sync_api import expect

from deployments.models import ReleaseArtifact, Rollout
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
CARRIED = ("api-server", "agent", "livekit")


def _with_frontend(release):
    ReleaseArtifact.objects.create(
        release=release,
        service_name="frontend",
        image=f"gs://acme-builds/frontend/builds/{release.version}/",
    )
    return release


def _deploy(page, base, env: str, version: str):
    page.goto(f"{base}/deployments/environments/{env}/deploy/?release={version}")
    expect(page.locator("table.diff")).to_contain_text("frontend")
    page.click("#start-rollout")
    page.wait_for_url("**/deployments/rollouts/*/")
    return Rollout.objects.order_by("-pk").first()


def _site(server, bucket: str) -> str:
    return requests.get(f"{server.http_url}/sandbox/v1/sites/{bucket}/", timeout=5).text


@pytest.mark.usefixtures("worker", "fast_plan")
def test_a_release_goes_through_staging_then_production_frontend_included(
    page,
    browser,
    live_server,
    alice,
    bob,
    staging,
    production,
    make_release,
    sandbox_server,  # noqa: F811
):
    _with_frontend(make_release("3.1.0", services=CARRIED))
    base = live_server.url
    sign_in(page, base, "alice")

    _deploy(page, base, "staging", "3.1.0")
    steps = page.locator(".steps li")
    job = "migrate (api-server image)"
    expect(steps).to_have_text([job, "100%", "livekit (VM)", "frontend (site)", "verify 1 s"])
    badge = page.locator(".rollout-live .badge")
    expect(badge).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(page.locator("table.timeline")).to_contain_text("Verifying")
    expect(page.locator(".pre-deploy .job-state")).to_have_text("succeeded")
    assert "frontend 3.1.0" in _site(sandbox_server, "acme-staging-frontend")

    _deploy(page, base, "production", "3.1.0")
    expect(badge).to_have_attribute("data-state", "pending_approval")
    expect(steps).to_have_text(
        [job, "5%", "25%", "50%", "100%", "livekit (VM)", "frontend (site)", "verify 1 s"]
    )
    bob_context = browser.new_context()
    try:
        bob_page = bob_context.new_page()
        sign_in(bob_page, base, "bob")
        bob_page.goto(page.url)
        bob_page.click("[data-action=approve]")
    finally:
        bob_context.close()
    expect(badge).to_have_attribute("data-state", "succeeded", timeout=90_000)
    assert "frontend 3.1.0" in _site(sandbox_server, "acme-prod-frontend")
    page.goto(f"{base}/deployments/environments/production/")
    expect(page.locator("body")).to_contain_text("3.1.0")


@pytest.mark.usefixtures("worker", "fast_plan")
def test_a_faulty_release_is_rolled_back_by_the_verify_phase_in_staging(
    page,
    live_server,
    alice,
    staging,
    make_release,  # noqa: F811
):
    make_release("3.2.0", services=("api-server",), tag="3.2.0-faulty")
    base = live_server.url
    sign_in(page, base, "alice")
    page.goto(f"{base}/deployments/environments/staging/deploy/?release=3.2.0")
    page.click("#start-rollout")
    page.wait_for_url("**/deployments/rollouts/*/")
    badge = page.locator(".rollout-live .badge")
    expect(badge).to_have_attribute("data-state", "rolled_back", timeout=60_000)
    message = page.locator(".rollout-message")
    expect(message).to_contain_text("error rate")
    expect(message).to_contain_text("in verification")


@pytest.mark.usefixtures("worker", "fast_plan")
def test_a_failing_migration_stops_the_rollout_before_traffic_moves_and_says_why(
    page, live_server, alice, staging, make_release
):
    make_release("3.3.0", services=("api-server",), tag="3.3.0-migration-fails")
    base = live_server.url
    sign_in(page, base, "alice")
    page.goto(f"{base}/deployments/environments/staging/deploy/?release=3.3.0")
    page.click("#start-rollout")
    page.wait_for_url("**/deployments/rollouts/*/")
    expect(page.locator(".steps li").first).to_have_text("migrate (api-server image)")
    badge = page.locator(".rollout-live .badge")
    expect(badge).to_have_attribute("data-state", "failed", timeout=60_000)
    expect(page.locator(".rollout-message")).to_contain_text("Migrations for 3.3.0 failed")
    expect(page.locator(".pre-deploy .job-state")).to_have_text("failed")
    expect(page.locator("table.traffic")).not_to_contain_text("3-3-0")
