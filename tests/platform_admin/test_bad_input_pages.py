"""Bad input on the pages: a plain 400 page with a sentence, or the form's error, never a
server error; and nothing changes."""

import pytest

from deployments.models import Release
from platform_admin import audit
from platform_admin.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(alice):
    audit.record("rollout.started", actor="alice", environment="staging")


def _text(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/deployments/releases/%00/",
        "/deployments/releases/\x00/",
        "/deployments/releases/1.5.0%00/",
        "/deployments/environments/staging%00/",
        "/audit/%00",
    ],
)
def test_a_nul_in_the_address_is_a_400_page_that_says_so(client, alice, path):
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 400
    assert "The address contains a NUL character" in _text(response)
    assert "Bad request" in _text(response) and "Nothing was changed" in _text(response)


@pytest.mark.parametrize(
    "query", ["?page=%00", "?actor=%00", "?x%00=1", "?action=rollout.%00started"]
)
def test_a_nul_in_the_query_string_is_a_400_page(client, alice, event, query):
    client.force_login(alice)
    response = client.get("/audit/" + query)
    assert response.status_code == 400 and "The query string contains" in _text(response)


def test_a_lone_surrogate_escape_in_the_address_is_only_an_unknown_release(client, alice):
    client.force_login(alice)
    response = client.get("/deployments/releases/%ED%A0%80/")  # not UTF-8: kept escaped
    assert response.status_code == 404


def test_a_nul_in_a_posted_form_field_is_refused_and_nothing_is_stored(client, alice):
    client.force_login(alice)
    response = client.post(
        "/deployments/releases/new/", {"version": "1.5.0", "notes": "fast\x00er"}
    )
    assert response.status_code == 400 and "A form field contains" in _text(response)
    assert not Release.objects.exists()


def test_a_nul_in_the_sign_in_form_is_a_400_not_a_server_error(client, alice):
    response = client.post("/login/", {"username": "alice\x00", "password": "pw-alice"})
    assert response.status_code == 400 and "A form field contains" in _text(response)


def test_a_nul_in_a_cookie_is_a_400_page(client, alice):
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    response = client.get("/deployments/")
    assert response.status_code == 400 and "A cookie contains" in _text(response)


def test_a_form_body_over_the_upload_limit_is_a_400_page_naming_the_limit(client, alice):
    client.force_login(alice)
    response = client.post("/deployments/releases/new/", {"notes": "x" * 3_000_000})
    assert response.status_code == 400
    assert "The request body is larger than 2.5 MB." in _text(response)
    assert not Release.objects.exists()


def test_a_form_with_more_fields_than_django_reads_is_a_400_page(client, alice):
    client.force_login(alice)
    response = client.post("/deployments/releases/new/", {f"f{n}": "x" for n in range(1001)})
    assert response.status_code == 400 and "The form has too many fields." in _text(response)


def test_audit_until_the_last_day_of_the_calendar_shows_everything(client, alice, event):
    client.force_login(alice)
    response = client.get("/audit/?until=9999-12-31")
    assert response.status_code == 200 and "rollout.started" in _text(response)
    assert "No events match." in _text(client.get("/audit/?since=9999-12-31"))
    both = client.get("/audit/?since=9999-12-31&until=9999-12-31")
    assert both.status_code == 200 and "No events match." in _text(both)


def test_audit_csv_until_the_last_day_of_the_calendar_exports_everything(client, alice, event):
    client.force_login(alice)
    response = client.get("/audit.csv?until=9999-12-31")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert "rollout.started" in body


def test_audit_from_year_one_shows_everything_and_until_year_one_nothing(client, alice, event):
    client.force_login(alice)
    assert "rollout.started" in _text(client.get("/audit/?since=0001-01-01"))
    assert "No events match." in _text(client.get("/audit/?until=0001-01-01"))
    csv = client.get("/audit.csv?since=0001-01-01&until=0001-01-01")
    assert (
        csv.status_code == 200 and "rollout.started" not in b"".join(csv.streaming_content).decode()
    )


@pytest.mark.parametrize(
    "query",
    [
        "until=0000-01-01",
        "since=0000-12-31",
        "until=10000-01-01",
        "until=2026-13-45",
        "until=2026-02-30",
        "since=yesterday",
        "until=" + "9" * 5000,
    ],
)
def test_audit_dates_that_are_no_date_are_a_form_error(client, alice, event, query):
    client.force_login(alice)
    response = client.get("/audit/?" + query)
    assert response.status_code == 200
    assert "Enter a valid date." in _text(response) and "No events match." in _text(response)


@pytest.mark.parametrize("query", ["until=0000-01-01", "since=2026-13-45", "until=garbage"])
def test_audit_csv_with_a_date_that_is_no_date_is_a_400_saying_which(client, alice, query):
    client.force_login(alice)
    response = client.get("/audit.csv?" + query)
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")
    field = query.split("=")[0]
    assert _text(response) == f"{field}: Enter a valid date."


def test_audit_csv_with_since_after_until_is_a_400_saying_so(client, alice):
    client.force_login(alice)
    response = client.get("/audit.csv?since=2026-02-01&until=2026-01-01")
    assert response.status_code == 400
    assert "'since' must be on or before 'until'." in _text(response)


def test_refused_requests_write_nothing_to_the_audit_trail(client, alice):
    client.force_login(alice)
    before = AuditEvent.objects.count()
    client.post("/deployments/releases/new/", {"version": "1.5.0\x00"})
    client.get("/audit.csv?until=0000-01-01")
    assert AuditEvent.objects.count() == before


def test_a_page_that_does_not_exist_says_so_signed_in_or_not(client, alice):
    anonymous = client.get("/no/such/page/")
    assert anonymous.status_code == 404
    assert "There is no page at /no/such/page/." in _text(anonymous)
    client.force_login(alice)
    signed_in = client.get("/no/such/page/")
    assert signed_in.status_code == 404 and "There is no page at /no/such/page/." in _text(
        signed_in
    )


def test_a_forms_address_opened_in_the_browser_says_what_it_takes(client, carol):
    client.force_login(carol)
    before = AuditEvent.objects.count()

    response = client.get("/costs/import/")

    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "/costs/import/ takes POST (a form's button sends it), not GET" in _text(response)
    assert AuditEvent.objects.count() == before
