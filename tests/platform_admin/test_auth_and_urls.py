"""Every page needs a login (except the login page and /healthz); logins are audited."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from platform_admin.models import AuditEvent

pytestmark = pytest.mark.django_db

PUBLIC = {"/login/", "/healthz", "/admin/login/"}  # the admin has its own login form
SAMPLE_ARGS = {
    "slug": "staging",
    "version": "1.0.0",
    "pk": "1",
    "rollout_id": "1",  # the API's /rollouts/{rollout_id}: GET /rollouts/1 below
    "int": "1",
    "str": "x",
    "path": "x",
}


def walk(resolver=None, prefix=""):
    """Yield a concrete URL for every pattern in the URL conf."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield "/" + _fill(route)


def _fill(route: str) -> str:
    import re

    route = route.lstrip("^").rstrip("$").replace("\\Z", "")
    route = re.sub(
        r"<(?:(\w+):)?(\w+)>",
        lambda m: SAMPLE_ARGS.get(m[2], SAMPLE_ARGS.get(m[1] or "str", "1")),
        route,
    )
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLE_ARGS.get(m[1], "1"), route)
    return route.replace("\\", "")


def test_every_url_requires_a_login(client, platform):
    urls = sorted(set(walk()))
    assert len(urls) > 10
    open_urls = []
    for url in urls:
        if url in PUBLIC or url.startswith("/api/"):
            continue
        response = client.get(url)
        redirected_to_login = response.status_code == 302 and "/login/" in response["Location"]
        if not redirected_to_login:
            open_urls.append((url, response.status_code))
    assert open_urls == []


def test_api_urls_refuse_anonymous_callers(client, platform):
    api_urls = [
        u
        for u in set(walk())
        if u.startswith("/api/v1/") and u != "/api/v1/" and "docs" not in u and "openapi" not in u
    ]
    assert len(api_urls) >= 5
    for url in api_urls:
        method = client.patch if "releases/" in url else client.post
        reads = (url.endswith("/1") and "rollouts" in url) or url.endswith("/health")
        reads = reads or "/costs/months/" in url
        response = client.get(url) if reads else method(url)
        assert response.status_code == 401, url
        assert "Bearer" in response.json()["message"]


def test_login_is_audited_with_ip(client, alice):
    response = client.post(
        "/login/", {"username": "alice", "password": "pw-alice"}, REMOTE_ADDR="203.0.113.9"
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="auth.login")
    assert (event.actor, event.ip) == ("alice", "203.0.113.9")


def test_failed_login_is_audited_and_shows_an_error(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "wrong"})

    assert "didn't match" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.detail == {"username": "alice"}


def test_overview_lists_both_environments_and_their_services(client, alice):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "Staging" in page and "Production" in page
    assert "api-server" in page and "livekit" in page


def test_rq_dashboard_is_for_staff_only(client, alice, admin_user):
    client.force_login(alice)
    assert client.get("/admin/rq/").status_code == 302
    client.force_login(admin_user)
    assert client.get("/admin/rq/").status_code == 200
