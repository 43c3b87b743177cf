"""Every page carries the Content-Security-Policy; the API docs are served from our own
static files, to signed-in people only."""

import re

import pytest
from django.contrib.staticfiles import finders

from tests.platform_admin.test_auth_and_urls import walk

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def policy_of(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


def test_every_page_carries_the_policy_when_signed_in(client, admin_user):
    client.force_login(admin_user)
    client.raise_request_exception = False  # an error page must carry it too (the rq admin's
    # job pages answer 500 to the sample ids walk() fills in)
    urls = sorted(set(walk()))
    assert len(urls) > 10
    without = [(url, r.status_code) for url in urls if policy_of(r := client.get(url)) != POLICY]
    assert without == []


def test_the_login_page_and_an_anonymous_redirect_carry_the_policy(client):
    assert policy_of(client.get("/login/")) == POLICY
    assert policy_of(client.get("/audit/")) == POLICY


@pytest.mark.parametrize("url", ["/api/v1/docs", "/api/v1/openapi.json"])
def test_the_api_docs_and_schema_send_anonymous_visitors_to_the_login(client, platform, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_a_signed_in_person_reads_the_api_docs_served_from_our_own_static_files(client, alice):
    client.force_login(alice)
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "/static/ninja/swagger-ui.css" in page
    references = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert references and all(
        ref.startswith("/") and not ref.startswith("//") for ref in references
    )
    assert "http://" not in page and "https://" not in page
    for asset in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui-init.js", "ninja/swagger-ui.css"):
        assert finders.find(asset), asset


def test_a_signed_in_person_reads_the_openapi_schema(client, alice):
    client.force_login(alice)
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert "/api/v1/rollouts" in response.json()["paths"]
