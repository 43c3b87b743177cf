"""A person signs in and finds the platform and their own login in the audit trail."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_anonymous_visit_redirects_to_login(page, live_server):
    page.goto(f"{live_server.url}/audit/")
    assert page.url.startswith(f"{live_server.url}/login/")
    assert page.locator("h1").inner_text() == "Log in"


def test_alice_logs_in_sees_both_environments_and_her_login_in_the_audit(login, live_server, alice):
    page = login("alice")

    environments = page.locator("section.env h2 a").all_inner_texts()
    assert environments == ["Staging", "Production"]

    page.click("nav >> text=Audit")
    page.fill("input[name=action]", "auth.login")
    page.click("button:has-text('Filter')")
    row = page.locator("table.audit tbody tr").first
    assert "alice" in row.inner_text() and "auth.login" in row.inner_text()


def test_wrong_password_keeps_the_user_on_the_login_page(page, live_server, alice):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "nope")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text().startswith("Your username and password")
