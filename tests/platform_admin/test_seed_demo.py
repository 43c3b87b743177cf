# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from platform_admin.models import Environment
from platform_admin.roles import has_role
from tests.deployments.conftest import gcp, sandbox_server  # noqa: F401

pytestmark = pytest.mark.django_db


def test_seed_demo_refuses_without_debug():
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_demo")
    assert not Environment.objects.exists()


@override_settings(DEBUG=True)
def test_seed_demo_creates_named_users_with_their_roles(django_user_model):
    out = StringIO()
    call_command("seed_demo", stdout=out)

    users = {u.username: u for u in django_user_model.objects.all()}
    staging, production = (
        Environment.objects.get(slug="staging"),
        Environment.objects.get(slug="production"),
    )
    assert has_role(users["alice"], "deployer", staging) and has_role(
        users["alice"], "deployer", production
    )
    assert has_role(users["bob"], "approver", production) and not has_role(
        users["bob"], "approver", staging
    )
    assert has_role(users["carol"], "finance", production)
    assert users["admin"].is_superuser
    from deployments.models import Release

    demo = {r.version: r.images() for r in Release.objects.all()}
    assert set(demo) == {"1.5.0", "1.5.1", "1.5.2", "1.5.3", "1.6.0"}
    assert ":1.5.3-costly@sha256:" in demo["1.5.3"]["agent"]
    assert Release.objects.get(version="1.6.0").resources() == {"agent": {"memory_gib": "8"}}
    assert ":1.5.1-faulty@sha256:" in demo["1.5.1"]["api-server"]
    assert ":1.5.1@sha256:" in demo["1.5.1"]["realtime"]
    printed = out.getvalue()
    for name in ("alice", "bob", "carol", "admin"):
        line = next(line for line in printed.splitlines() if line.strip().startswith(name))
        password = line.split()[-1]
        assert users[name].check_password(password)


@override_settings(DEBUG=True)
def test_seed_demo_shortens_canary_bakes_and_audits_it():
    from platform_admin.models import AuditEvent

    call_command("seed_demo", "--bake-seconds", "12", stdout=StringIO())

    assert set(Environment.objects.values_list("bake_seconds", flat=True)) == {12}
    changed = AuditEvent.objects.filter(detail__reason="demo").values_list("environment", flat=True)
    assert sorted(changed) == ["production", "staging"]


@override_settings(DEBUG=True)
def test_a_first_start_cut_short_pulls_the_demo_months_it_missed_on_the_next(gcp):
    from costs import pull
    from costs.models import InvoiceMonth

    today = pull.today()
    this_month = f"{today:%Y-%m}"
    call_command("seed_demo", stdout=StringIO())  # the first start: a year of costs
    months = sorted(InvoiceMonth.objects.values_list("month", flat=True))
    assert len(months) == 13 and months[-1] == this_month
    InvoiceMonth.objects.filter(month__in=months[4:]).delete()  # as if Ctrl-C stopped it
    out = StringIO()

    call_command("seed_demo", stdout=out)

    assert sorted(InvoiceMonth.objects.values_list("month", flat=True)) == months
    printed = out.getvalue()
    assert f"demo: costs of {months[4]} pulled" in printed
    assert f"demo: costs of {months[3]} pulled" not in printed  # held: left as it is


@override_settings(DEBUG=True)
def test_resetting_the_demo_passwords_is_audited_per_user():
    from platform_admin.models import AuditEvent

    call_command("seed_demo", stdout=StringIO())
    created = AuditEvent.objects.filter(action="user.created", actor="seed_demo").count()

    call_command("seed_demo", "--password", "a-new-secret-9", stdout=StringIO())

    reset = AuditEvent.objects.filter(action="user.updated", actor="seed_demo")
    assert created == 4
    assert sorted(e.detail["user"] for e in reset) == ["admin", "alice", "bob", "carol"]
    assert all(e.detail["changes"] == {"password": "changed"} for e in reset)
