"""Registering a release in the browser: clear errors per field, nothing typed is lost."""

import pytest

from deployments.models import Release
from platform_admin.models import AuditEvent
from tests.deployments.conftest import image

pytestmark = pytest.mark.django_db


def test_the_form_offers_every_deployable_service(client, alice):
    client.force_login(alice)
    page = client.get("/deployments/releases/new/").content.decode()
    for name in ("api-server", "realtime", "agent", "livekit"):
        assert f'name="image_{name}"' in page
    assert 'name="image_postgres"' not in page  # Cloud SQL is not deployed by us


def test_registering_a_release_records_it_and_its_audit_event(client, alice):
    client.force_login(alice)
    response = client.post(
        "/deployments/releases/new/",
        {"version": "1.5.0", "notes": "faster joins", "image_api-server": image("api-server")},
    )
    assert response.status_code == 302 and response["Location"] == "/deployments/releases/1.5.0/"
    assert Release.objects.get(version="1.5.0").images() == {"api-server": image("api-server")}
    assert AuditEvent.objects.filter(action="release.created", actor="alice").exists()


def test_bad_fields_are_named_and_what_was_typed_is_kept(client, alice):
    client.force_login(alice)
    response = client.post(
        "/deployments/releases/new/",
        {"version": "1.5", "notes": "keep me", "image_realtime": "realtime:latest"},
    )
    page = response.content.decode()
    assert (
        "not a semantic version" in page and "realtime: " in page and "not pinned by digest" in page
    )
    assert "keep me" in page and 'value="realtime:latest"' in page
    assert not Release.objects.exists()


def test_a_release_needs_at_least_one_image(client, alice):
    client.force_login(alice)
    page = client.post("/deployments/releases/new/", {"version": "1.5.0"}).content.decode()
    assert "at least one service" in page


def test_a_duplicate_version_is_refused_with_the_reason(client, alice, make_release):
    make_release("1.5.0")
    client.force_login(alice)
    page = client.post(
        "/deployments/releases/new/", {"version": "1.5.0", "image_agent": image("agent")}
    ).content.decode()
    assert "exists already" in page


def test_someone_without_a_deployer_role_is_refused(client, carol):
    client.force_login(carol)
    page = client.post(
        "/deployments/releases/new/", {"version": "1.5.0", "image_agent": image("agent")}
    ).content.decode()
    assert "needs the deployer role" in page
    assert not Release.objects.exists()
