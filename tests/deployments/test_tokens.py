"""API tokens: named, expiring, scoped to actions and environments, listed and revoked on
a page by their owner (an admin: anyone's), every creation and revocation audited."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from deployments.models import ApiToken, Rollout, RolloutState, TokenScope
from deployments.tokens import TokenRequest, create_token
from platform_admin.models import AuditEvent
from tests.deployments.conftest import api_caller, image

S = RolloutState
CI = TokenRequest(
    name="github-actions staging",
    scopes=(TokenScope.RELEASES, TokenScope.DEPLOY),
    environments=("staging",),
)


_api = api_caller


def test_a_ci_token_registers_releases_and_starts_staging_but_never_approves(
    client, alice, bob, staging, production, make_release
):
    ci = _api(client, create_token(bob, CI, actor=bob))
    artifacts = {"api-server": image("api-server")}

    assert ci("post", "/releases", {"version": "7.0.0", "artifacts": artifacts}).status_code == 201
    started = ci("post", "/rollouts", {"release": "7.0.0", "environment": "staging"})
    assert started.status_code == 202

    waiting = Rollout.objects.create(
        release=make_release("7.1.0"),
        environment=production,
        state=S.PENDING_APPROVAL,
        steps=[5, 100],
        started_by=alice,
    )
    refused = ci("post", f"/rollouts/{waiting.pk}/approve")
    assert refused.status_code == 403
    assert "may not approve and reject rollouts" in refused.json()["message"]
    waiting.refresh_from_db()
    assert waiting.state == S.PENDING_APPROVAL  # bob may approve in the browser; not this token


def test_a_token_limited_to_staging_may_not_touch_production(client, bob, production, make_release):
    make_release("7.0.0")
    ci = _api(client, create_token(bob, CI, actor=bob))

    response = ci("post", "/rollouts", {"release": "7.0.0", "environment": "production"})

    assert response.status_code == 403
    assert "limited to staging" in response.json()["message"]
    assert not production.rollouts.exists()


def test_an_expired_token_gets_401_with_a_sentence(client, alice):
    token = create_token(alice, TokenRequest(name="old ci", days=1), actor=alice)
    ApiToken.objects.filter(name="old ci").update(expires_at=timezone.now() - timedelta(hours=1))

    response = _api(client, token)("get", "/rollouts/1")

    assert response.status_code == 401
    assert "expired on" in response.json()["message"] and "old ci" in response.json()["message"]


def test_a_revoked_or_unknown_token_gets_401_with_the_reason(client, alice):
    token = create_token(alice, TokenRequest(name="laptop"), actor=alice)
    client.force_login(alice)
    row = ApiToken.objects.get(name="laptop")
    client.post(f"/deployments/tokens/{row.pk}/revoke/")
    client.logout()

    assert "was revoked" in _api(client, token)("get", "/rollouts/1").json()["message"]
    assert "not known" in _api(client, "pa_" + "x" * 43)("get", "/rollouts/1").json()["message"]


def test_tokens_expire_after_90_days_by_default_and_record_their_last_use(client, alice):
    token = create_token(alice, TokenRequest(name="ci"), actor=alice)
    row = ApiToken.objects.get(name="ci")
    assert timedelta(days=89, hours=23) < row.expires_at - timezone.now() <= timedelta(days=90)
    assert row.last_used_at is None

    _api(client, token)("get", "/rollouts/1")

    row.refresh_from_db()
    assert row.last_used_at is not None


def test_the_tokens_page_makes_a_token_shows_it_once_and_lists_only_your_own(client, alice, bob):
    create_token(bob, TokenRequest(name="bobs"), actor=bob)
    client.force_login(alice)

    page = client.post(
        "/deployments/tokens/",
        {
            "name": "github-actions staging",
            "days": "30",
            "scopes": ["deploy"],
            "environments": ["staging"],
        },
    ).content.decode()

    assert "pa_" in page and "shown only this once" in page
    assert 'data-token-name="github-actions staging"' in page and "bobs" not in page
    row = ApiToken.objects.get(name="github-actions staging")
    assert (row.user, row.scopes, row.environments) == (alice, ["deploy"], ["staging"])
    event = AuditEvent.objects.get(action="api_token.created", object_id=str(row.pk))
    assert event.actor == "alice" and event.detail["scopes"] == ["deploy"]
    assert "pa_" not in json.dumps(event.detail).replace(row.prefix, "")  # never the token
    listing = client.get("/deployments/tokens/").content.decode()
    assert "shown only this once" not in listing


def test_a_nameless_token_or_one_for_a_year_and_more_is_refused_with_a_sentence(client, alice):
    client.force_login(alice)

    nameless = client.post(
        "/deployments/tokens/", {"name": " ", "days": "30", "scopes": ["deploy"]}
    )
    too_long = client.post(
        "/deployments/tokens/", {"name": "ci", "days": "9999", "scopes": ["deploy"]}
    )

    assert nameless.status_code == too_long.status_code == 400
    assert not ApiToken.objects.exists()


def test_an_owner_revokes_their_token_but_not_someone_elses_an_admin_revokes_any(
    client, alice, bob, admin_user
):
    create_token(bob, TokenRequest(name="bobs"), actor=bob)
    row = ApiToken.objects.get(name="bobs")

    client.force_login(alice)
    client.post(f"/deployments/tokens/{row.pk}/revoke/")
    row.refresh_from_db()
    assert row.revoked_at is None

    client.force_login(admin_user)
    assert 'data-token-name="bobs"' in client.get("/deployments/tokens/").content.decode()
    client.post(f"/deployments/tokens/{row.pk}/revoke/")
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert AuditEvent.objects.get(action="api_token.revoked").actor == "admin"


def test_the_command_makes_a_scoped_token_and_refuses_unknown_environments(alice):
    out = StringIO()
    call_command(
        "create_api_token",
        "alice",
        name="ci",
        scope=["deploy"],
        environment=["staging"],
        days=7,
        stdout=out,
        stderr=StringIO(),
    )
    row = ApiToken.objects.get(name="ci")
    assert out.getvalue().startswith("pa_") and row.scopes == ["deploy"]

    with pytest.raises(CommandError, match="No environment moon"):
        call_command("create_api_token", "alice", name="x", environment=["moon"], stderr=StringIO())


def test_finance_makes_a_read_only_token_that_reads_costs_and_changes_nothing(
    client, carol, alice, staging, make_release
):
    client.force_login(carol)
    page = client.post(
        "/deployments/tokens/", {"name": "finance-report", "days": "30"}
    ).content.decode()
    reader = _api(client, page.split("data-token>", 1)[1].split("<", 1)[0])
    out = StringIO()
    call_command("create_api_token", "alice", name="cron", read_only=True, stdout=out)
    deployer_reading = _api(client, out.getvalue().strip())

    assert ApiToken.objects.get(name="finance-report").scopes == []
    assert ApiToken.objects.get(name="cron").scopes == []
    assert reader("get", "/costs/months/2026-10").status_code == 200
    make_release("8.0.0")
    refused = deployer_reading("post", "/rollouts", {"release": "8.0.0", "environment": "staging"})
    assert refused.status_code == 403 and "its scopes are none" in refused.json()["message"]
    assert not Rollout.objects.exists()
    with pytest.raises(CommandError, match="--read-only gives the token no scope"):
        call_command("create_api_token", "carol", name="x", read_only=True, scope=["deploy"])
