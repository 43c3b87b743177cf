"""The CI API: token auth, the same rules as the pages, JSON errors with the right status."""

import pytest
from django.core.management import call_command

from deployments.models import ApiToken, Rollout, RolloutState
from deployments.tokens import create_token
from tests.deployments.conftest import api_caller, image

S = RolloutState


@pytest.fixture
def as_user(client):
    return lambda user: api_caller(client, create_token(user, "ci"))


def _artifacts():
    return {"api-server": image("api-server"), "realtime": image("realtime")}


def test_create_api_token_prints_it_once_and_stores_only_a_hash(alice, capsys):
    call_command("create_api_token", "alice", name="github")
    token = capsys.readouterr().out.strip()
    row = ApiToken.objects.get(user=alice)
    assert token.startswith("pa_") and token not in row.key_hash and row.prefix == token[:10]


def test_requests_without_a_valid_token_get_401_json(client, alice):
    response = client.get("/api/v1/rollouts/1")
    assert response.status_code == 401 and "Bearer" in response.json()["message"]
    response = client.get("/api/v1/rollouts/1", HTTP_AUTHORIZATION="Bearer pa_wrong")
    assert response.status_code == 401


def test_release_then_rollout_then_status(as_user, alice, staging):
    api = as_user(alice)
    created = api(
        "post", "/releases", {"version": "1.4.0", "notes": "n", "artifacts": _artifacts()}
    )
    assert created.status_code == 201, created.content
    assert created.json()["artifacts"] == _artifacts()
    started = api(
        "post", "/rollouts", {"release": "1.4.0", "environment": "staging", "strategy": "canary"}
    )
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["state"] == "queued" and body["url"].endswith(f"/rollouts/{body['id']}/")
    status = api("get", f"/rollouts/{body['id']}").json()
    assert {"id", "state", "release", "environment", "step", "traffic", "events"} <= set(status)
    assert status["release"] == "1.4.0" and status["environment"] == "staging"


def test_validation_errors_are_400_with_a_message(as_user, alice):
    api = as_user(alice)
    bad = api("post", "/releases", {"version": "1.4", "artifacts": {"api-server": "nginx"}})
    assert bad.status_code == 400 and "not a semantic version" in bad.json()["message"]
    missing = api("post", "/releases", {"version": "1.4.0"})
    assert missing.status_code == 400 and "artifacts" in missing.json()["message"]
    unknown = api("post", "/rollouts", {"release": "9.9.9", "environment": "staging"})
    assert unknown.status_code == 400 and "No release '9.9.9'" in unknown.json()["message"]


def test_role_errors_are_403_and_conflicts_409(as_user, alice, bob, dave, make_release):
    make_release("1.4.0")
    make_release("1.4.1")
    denied = as_user(dave)("post", "/rollouts", {"release": "1.4.0", "environment": "staging"})
    assert denied.status_code == 403 and "deployer role on staging" in denied.json()["message"]
    first = as_user(alice)("post", "/rollouts", {"release": "1.4.0", "environment": "staging"})
    assert first.status_code == 202
    second = as_user(bob)("post", "/rollouts", {"release": "1.4.1", "environment": "staging"})
    assert second.status_code == 409 and "already has an active rollout" in second.json()["message"]
    again = as_user(alice)("post", "/releases", {"version": "1.4.0", "artifacts": _artifacts()})
    assert again.status_code == 409


def test_approval_flow_over_the_api(as_user, alice, bob, staging, production, make_release):
    release = make_release("1.4.0")
    Rollout.objects.create(
        release=release, environment=staging, started_by=alice, state=S.SUCCEEDED
    )
    rollout_id = as_user(alice)(
        "post", "/rollouts", {"release": "1.4.0", "environment": "production"}
    )
    assert rollout_id.status_code == 202, rollout_id.json()
    rollout_id = rollout_id.json()["id"]
    own = as_user(alice)("post", f"/rollouts/{rollout_id}/approve")
    assert own.status_code == 403, own.json()
    approved = as_user(bob)("post", f"/rollouts/{rollout_id}/approve")
    assert approved.status_code == 200 and approved.json()["state"] == "queued"
    wrong_state = as_user(bob)("post", f"/rollouts/{rollout_id}/approve")
    assert wrong_state.status_code == 400 and "cannot be approved" in wrong_state.json()["message"]
    missing = as_user(bob)("post", "/rollouts/999999/abort")
    assert missing.status_code == 404


def test_rollback_endpoint_defaults_to_the_previous_release(as_user, alice, staging, make_release):
    for version in ("1.3.2", "1.4.0"):
        Rollout.objects.create(
            release=make_release(version),
            environment=staging,
            started_by=alice,
            state=S.SUCCEEDED,
        )
    response = as_user(alice)("post", "/environments/staging/rollback", {})
    assert response.status_code == 202
    assert Rollout.objects.get(pk=response.json()["id"]).release.version == "1.3.2"
    none_left = as_user(alice)("post", "/environments/staging/rollback", {"release": "0.0.1"})
    assert none_left.status_code == 400, none_left.json()  # a rule broken, not a conflict
    assert "never succeeded in staging" in none_left.json()["message"]


def test_openapi_document_is_served_to_signed_in_people(client, alice):
    client.force_login(alice)
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/rollouts/{rollout_id}/approve" in paths and "/api/v1/releases" in paths


def test_a_release_is_corrected_over_the_api_until_it_is_deployed(as_user, alice, staging):
    api = as_user(alice)
    api("post", "/releases", {"version": "1.4.0", "artifacts": _artifacts()})
    fixed = {"api-server": image("api-server", "fixed")}

    patched = api("patch", "/releases/1.4.0", {"notes": "hotfix", "artifacts": fixed})
    assert patched.status_code == 200 and patched.json()["artifacts"] == fixed

    api("post", "/rollouts", {"release": "1.4.0", "environment": "staging"})
    refused = api("patch", "/releases/1.4.0", {"notes": "again"})
    assert refused.status_code == 409 and "immutable" in refused.json()["message"]
    assert api("patch", "/releases/9.9.9", {"notes": "x"}).status_code == 404


def test_a_revoked_token_stops_working_and_the_revocation_is_audited(client, alice, admin_user):
    from deployments.tokens import revoke_token
    from platform_admin.models import AuditEvent

    token = create_token(alice, "ci")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/api/v1/rollouts/999", **headers).status_code == 404  # accepted

    assert revoke_token(ApiToken.objects.get(user=alice), admin_user)
    assert client.get("/api/v1/rollouts/999", **headers).status_code == 401
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor == "admin" and event.detail["user"] == "alice"
