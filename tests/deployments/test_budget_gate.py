"""The budget gate: an environment with block_when_over_budget takes no rollout while its
month's forecast is over its target, unless an approver overrides it with a reason
(audited, on the rollout's timeline); without the flag the deploy page only warns. The
same rule for the browser form and the CI API."""

import re
from datetime import datetime

import pytest
from django.core.exceptions import PermissionDenied

from costs.bq_rows import PACIFIC
from costs.importer import import_file
from deployments import services
from deployments.errors import OverBudget
from deployments.models import Rollout
from deployments.tokens import TokenRequest, create_token
from platform_admin.models import AuditEvent, RoleGrant
from tests.costs.conftest import export_row, ndjson
from tests.deployments.conftest import api_caller

DEPLOY = "/deployments/environments/staging/deploy/"
WARNING = "the forecast $400.00 is over the target $300.00 for this month"


@pytest.fixture
def over_budget(staging, tmp_path):
    """Staging has spent 400.00 of its 300.00 target this month."""
    today = datetime.now(PACIFIC).date()
    row = export_row(
        "400.00",
        month=f"{today:%Y%m}",
        start=f"{today:%Y-%m-%d} 20:00:00 UTC",
        labels={"env": "staging"},
    )
    path = tmp_path / "export.jsonl"
    path.write_bytes(ndjson([row]))
    import_file(path)
    return staging


@pytest.fixture
def blocking(over_budget):
    over_budget.block_when_over_budget = True
    over_budget.save()
    return over_budget


@pytest.fixture
def approver(bob, staging):
    """bob deploys staging and, here, approves there too."""
    RoleGrant.objects.create(user=bob, role="approver", environment=staging)
    return bob


def test_without_the_flag_the_deploy_page_warns_and_the_rollout_starts(
    client, alice, over_budget, make_release
):
    make_release("1.4.0", services=("api-server",))
    client.force_login(alice)

    page = client.get(f"{DEPLOY}?release=1.4.0").content.decode()
    response = client.post(DEPLOY, {"release": "1.4.0"})

    assert WARNING in page and "needs an approver's override" not in page
    assert response.status_code == 302 and Rollout.objects.count() == 1
    assert not AuditEvent.objects.filter(action="rollout.budget_override").exists()


def test_the_gate_refuses_a_start_without_an_override(alice, blocking, make_release):
    with pytest.raises(OverBudget, match=re.escape(f"staging takes no rollout while {WARNING}")):
        services.start_rollout(alice, make_release("1.4.0"), blocking)

    assert not Rollout.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="rollout.").exists()


def test_only_an_approver_may_override(alice, blocking, make_release):
    with pytest.raises(PermissionDenied, match="approver role on staging to override"):
        services.start_rollout(alice, make_release("1.4.0"), blocking, budget_override="urgent")
    assert not Rollout.objects.exists()


def test_an_approvers_override_starts_the_rollout_audited_with_the_reason(
    approver, blocking, make_release
):
    rollout = services.start_rollout(
        approver, make_release("1.4.0"), blocking, budget_override="security fix, CVE-2026-1"
    )

    event = AuditEvent.objects.get(action="rollout.budget_override")
    assert event.actor == "bob" and event.object_id == str(rollout.pk)
    assert event.detail["reason"] == "security fix, CVE-2026-1"
    assert event.detail["forecast"] == "400.000000000" and event.detail["target"] == "300.00"
    [row] = rollout.events.filter(kind="budget_override")
    assert "on bob's override: security fix, CVE-2026-1" in row.message


def test_the_gate_lets_a_rollout_under_budget_through(alice, staging, make_release):
    staging.block_when_over_budget = True
    staging.save()
    rollout = services.start_rollout(alice, make_release("1.4.0"), staging)
    assert rollout.pk and not rollout.events.filter(kind="budget_override").exists()


def test_the_deploy_form_refuses_then_takes_an_approvers_override(
    client, alice, approver, blocking, make_release
):
    make_release("1.4.0", services=("api-server",))
    client.force_login(alice)
    page = client.get(f"{DEPLOY}?release=1.4.0").content.decode()
    assert WARNING in page and "needs an approver's override with a reason" in page
    assert 'name="budget_override_reason"' not in page  # alice is no approver

    refused = client.post(DEPLOY, {"release": "1.4.0"}, follow=True).content.decode()
    assert "an approver must override the budget gate with a reason" in refused
    assert not Rollout.objects.exists()

    client.force_login(approver)
    form = client.get(f"{DEPLOY}?release=1.4.0").content.decode()
    assert 'name="budget_override_reason"' in form
    response = client.post(
        DEPLOY, {"release": "1.4.0", "budget_override_reason": "launch day"}, follow=True
    )

    rollout = Rollout.objects.get()
    assert response.redirect_chain[-1][0] == rollout.get_absolute_url()
    assert "on bob&#x27;s override: launch day" in response.content.decode()  # the timeline
    assert AuditEvent.objects.get(action="rollout.budget_override").detail["reason"] == "launch day"


def test_the_api_answers_422_and_takes_an_approvers_override(
    client, alice, approver, blocking, make_release
):
    make_release("1.4.0")
    body = {"release": "1.4.0", "environment": "staging"}

    refused = api_caller(client, create_token(alice, "ci"))("post", "/rollouts", body)
    assert refused.status_code == 422
    assert (
        WARNING in refused.json()["message"]
        and "budget_override_reason" in refused.json()["message"]
    )

    deploy_only = TokenRequest(name="deploy only", scopes=("deploy",))
    narrow = api_caller(client, create_token(approver, deploy_only))
    overridden = {**body, "budget_override_reason": "hotfix"}
    assert narrow("post", "/rollouts", overridden).status_code == 403  # an approver's act
    assert not Rollout.objects.exists()

    started = api_caller(client, create_token(approver, "ci"))("post", "/rollouts", overridden)

    assert started.status_code == 202, started.content
    event = AuditEvent.objects.get(action="rollout.budget_override")
    assert event.detail["reason"] == "hotfix" and event.object_id == str(started.json()["id"])


def _spent(tmp_path, amount: str, env: str) -> None:
    today = datetime.now(PACIFIC).date()
    row = export_row(
        amount, month=f"{today:%Y%m}", start=f"{today:%Y-%m-%d} 20:00:00 UTC", labels={"env": env}
    )
    path = tmp_path / f"{env}.jsonl"
    path.write_bytes(ndjson([row]))
    import_file(path)


@pytest.fixture
def promotable(alice, staging, production, make_release):
    """Release 1.4.0, live in staging; production blocks rollouts over budget."""
    release = make_release("1.4.0")
    Rollout.objects.create(
        release=release, environment=staging, started_by=alice, state="succeeded"
    )
    production.block_when_over_budget = True
    production.save()
    return release


def test_an_approval_that_would_send_a_rollout_out_over_budget_needs_the_override(
    client, alice, bob, production, promotable, tmp_path
):
    # Started under budget; by the time bob approves, the month's forecast is over.
    release = promotable
    rollout = services.start_rollout(alice, release, production)
    assert rollout.state == "pending_approval"
    _spent(tmp_path, "1200.00", "production")
    over = "the forecast $1,200.00 is over the target $1,000.00 for this month"

    with pytest.raises(OverBudget, match=re.escape(f"production takes no rollout while {over}")):
        services.approve(bob, rollout)
    rollout.refresh_from_db()
    assert rollout.state == "pending_approval" and rollout.approved_by is None

    client.force_login(bob)
    page = client.get(rollout.get_absolute_url()).content.decode()
    assert f"Production: {over} (" in page and "approving this one sends it out" in page
    refused = client.post(f"/deployments/rollouts/{rollout.pk}/approve/", follow=True)
    assert "override the budget gate with a reason (reason)" in refused.content.decode()
    approved = client.post(
        f"/deployments/rollouts/{rollout.pk}/approve/", {"reason": "launch day"}, follow=True
    )

    rollout.refresh_from_db()
    assert rollout.state == "queued" and rollout.approved_by == bob
    event = AuditEvent.objects.get(action="rollout.budget_override")
    assert event.actor == "bob" and event.detail["reason"] == "launch day"
    assert "Approved over budget" in approved.content.decode()  # on the timeline


def test_over_the_api_the_approval_takes_the_override_as_its_reason_once(
    client, alice, bob, production, promotable, tmp_path
):
    release = promotable
    first = services.start_rollout(alice, release, production)
    _spent(tmp_path, "1200.00", "production")
    as_bob = api_caller(client, create_token(bob, "ci"))

    refused = as_bob("post", f"/rollouts/{first.pk}/approve")
    assert refused.status_code == 422 and "with a reason (reason)" in refused.json()["message"]
    approved = as_bob("post", f"/rollouts/{first.pk}/approve", {"reason": "hotfix"})
    assert approved.status_code == 200 and approved.json()["state"] == "queued"

    assert AuditEvent.objects.get(action="rollout.budget_override").detail["reason"] == "hotfix"


def test_a_rollout_started_on_an_override_is_approved_without_a_second_one(
    client, bob, admin_user, production, promotable, tmp_path
):
    release = promotable
    _spent(tmp_path, "1200.00", "production")
    rollout = services.start_rollout(admin_user, release, production, budget_override="launch day")

    as_bob = api_caller(client, create_token(bob, "ci"))
    approved = as_bob("post", f"/rollouts/{rollout.pk}/approve")

    assert approved.status_code == 200 and approved.json()["state"] == "queued"
    [event] = AuditEvent.objects.filter(action="rollout.budget_override")
    assert event.detail["reason"] == "launch day" and event.actor == "admin"
