"""Browser: the main pages work under the Content-Security-Policy, with no violation."""

import pytest
from playwright.sync_api import expect

from deployments.models import Rollout, RolloutState
from tests.deployments.conftest import make_release  # noqa: F401 - fixture used by name

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    "/",
    "/deployments/",
    "/deployments/environments/staging/",
    "/deployments/environments/production/history/",
    "/deployments/environments/production/deploy/?release=1.4.0",
    "/deployments/releases/",
    "/deployments/releases/1.4.0/",
    "/deployments/tokens/",
    "/health/",
    "/costs/",
    "/audit/",
]


@pytest.fixture
def violations(page):
    """What the browser said about the policy: Chromium logs every refusal to the console."""
    seen = []
    page.on(
        "console",
        lambda message: (
            seen.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    return seen


@pytest.fixture
def rollout(alice, staging, production, make_release):  # noqa: F811
    """A production rollout of 1.4.0 waiting for approval: its page polls for updates."""
    release = make_release("1.4.0")
    Rollout.objects.create(
        release=release, environment=staging, started_by=alice, state=RolloutState.SUCCEEDED
    )
    return Rollout.objects.create(
        release=release,
        environment=production,
        started_by=alice,
        state=RolloutState.PENDING_APPROVAL,
    )


def test_the_login_page_reports_no_violation(page, live_server, violations):
    page.goto(f"{live_server.url}/login/")
    expect(page.locator("h1")).to_have_text("Log in")
    assert violations == []


def test_the_main_pages_report_no_violation(login, live_server, alice, rollout, violations):
    page = login("alice")
    for path in PAGES:
        page.goto(live_server.url + path)
        expect(page.locator("main h1").first).to_be_visible()
    page.goto(f"{live_server.url}/deployments/rollouts/{rollout.pk}/")
    badge = page.locator(".rollout-live .badge")
    expect(badge).to_have_attribute("data-state", "pending_approval")
    # live.js fetches the live fragment (connect-src 'self') within its polling period.
    page.wait_for_event(
        "response", lambda r: r.url.endswith(f"/rollouts/{rollout.pk}/live/"), timeout=10_000
    )
    assert violations == []


def test_the_styles_apply_from_the_stylesheet(login, live_server, alice, rollout):
    page = login("alice")
    page.goto(f"{live_server.url}/deployments/")
    margin, rem = page.locator("h2.spaced").evaluate(
        "el => [parseFloat(getComputedStyle(el).marginTop),"
        " parseFloat(getComputedStyle(document.documentElement).fontSize)]"
    )
    assert margin == 1.5 * rem  # from app.css, where the style attribute's rule moved


def test_the_api_docs_render_swagger_ui_from_our_static_files(
    login, live_server, alice, violations
):
    page = login("alice")
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("platform-admin API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations == []


def test_an_inline_style_would_be_refused_and_reported(login, live_server, alice, violations):
    """The check above can fail: an inline style is refused and shows up as a violation."""
    page = login("alice")
    page.evaluate("document.body.setAttribute('style', 'background: red')")
    page.wait_for_timeout(200)
    assert any("style-src" in text for text in violations)
