"""Targets edited on the Costs page: finance (and admin) only, audited with the old and
the new value, a bad amount refused with a sentence, the platform file's value back when
the override is removed."""

from decimal import Decimal

import pytest

from costs.models import CostTarget
from platform_admin.models import AuditEvent

pytestmark = pytest.mark.django_db


def _set(client, amount, environment="staging", component=""):
    return client.post(
        "/costs/targets/",
        {"environment": environment, "component": component, "amount": amount, "month": "2026-10"},
        follow=True,
    )


def test_carol_sets_a_target_audited_with_old_and_new(client, carol, platform):
    client.force_login(carol)

    page = _set(client, "1,250.50").content.decode()

    assert "Target of Staging set to 1,250.50." in page
    assert CostTarget.objects.get(component="").amount == Decimal("1250.50")
    staging = page.split('data-scope="staging"')[1].split("</tr>")[0]
    assert "1,250.50" in staging  # the page uses it
    event = AuditEvent.objects.get(action="costs.target_updated")
    assert event.actor == "carol" and event.environment == "staging"
    assert (event.detail["old"], event.detail["new"]) == ("300.00", "1250.50")

    _set(client, "")  # back to the platform file's 300
    assert not CostTarget.objects.exists()
    back = AuditEvent.objects.filter(action="costs.target_updated").order_by("-id").first()
    assert (back.detail["old"], back.detail["new"]) == ("1250.50", "300.00")


def test_a_component_target_is_shown_beside_its_actual(client, carol, platform):
    client.force_login(carol)
    _set(client, "40", component="api-server")
    assert CostTarget.objects.get().component == "api-server"


@pytest.mark.parametrize(
    "amount, sentence",
    [
        ("twelve", "is not an amount like 1250.00"),
        ("-5", "a target is between 0 and"),
        ("1.234", "has more than two decimals"),
        ("1e400", "is not an amount like 1250.00"),
        ("250,00", "is not an amount like 1250.00 (a comma only separates thousands: 1,250.00)"),
        ("1,2,3", "is not an amount like 1250.00"),
        ("\u0663\u0660\u0660", "is not an amount like 1250.00"),  # Arabic-Indic 300
    ],
)
def test_a_bad_amount_changes_nothing_and_says_why(client, carol, platform, amount, sentence):
    client.force_login(carol)
    page = _set(client, amount).content.decode()
    assert "Target not changed" in page and sentence in page
    assert (
        not CostTarget.objects.exists()
        and not AuditEvent.objects.filter(action="costs.target_updated").exists()
    )


def test_minus_zero_is_a_zero_target(client, carol, platform):
    client.force_login(carol)
    assert "Target of Staging set to 0.00." in _set(client, "-0").content.decode()


def test_a_target_for_a_component_the_environment_has_not_is_refused(client, carol, platform):
    """A misspelt component would be a target no figure is compared with."""
    client.force_login(carol)
    page = _set(client, "40", component="api-srever").content.decode()
    assert (
        "Target not changed: Staging has no component &#x27;api-srever&#x27;: its services " in page
    )
    assert not CostTarget.objects.exists()


def test_alice_cannot_change_targets(client, alice, platform):
    client.force_login(alice)
    assert _set(client, "10").status_code == 403
    assert not CostTarget.objects.exists()


def test_pinning_a_target_at_the_platform_files_value_is_audited(client, carol, platform):
    client.force_login(carol)

    _set(client, "300")  # the platform file's value: from now on finance's

    assert CostTarget.objects.get(component="").amount == Decimal("300")
    event = AuditEvent.objects.get(action="costs.target_updated")
    assert (event.detail["old"], event.detail["new"], event.detail["source"]) == (
        "300.00",
        "300.00",
        "dashboard",
    )
    _set(client, "")  # and back to following the file
    assert AuditEvent.objects.filter(action="costs.target_updated").count() == 2


def test_removing_a_component_target_says_removed(client, carol, platform):
    client.force_login(carol)
    _set(client, "40", component="api-server")

    page = _set(client, "", component="api-server").content.decode()

    assert "Target of Staging api-server removed." in page and not CostTarget.objects.exists()


def test_removing_a_target_that_is_not_there_says_nothing_changed(client, carol, platform):
    client.force_login(carol)

    component = _set(client, "", component="nosuch-component").content.decode()
    environment = _set(client, "").content.decode()

    assert "Staging nosuch-component has no target: nothing to remove." in component
    assert "removed" not in component
    assert "The target of Staging is the platform file&#x27;s already." in environment
    assert not AuditEvent.objects.filter(action="costs.target_updated").exists()


def test_a_target_set_from_a_drill_down_returns_to_it(client, carol, platform):
    client.force_login(carol)
    drilled = client.get("/costs/?month=2026-10&env=staging&path=api-server").content.decode()
    assert '<input type="hidden" name="path" value="api-server">' in drilled

    response = client.post(
        "/costs/targets/",
        {
            "environment": "staging",
            "component": "api-server",
            "amount": "40",
            "month": "2026-10",
            "env": "staging",
            "path": ["api-server", "Cloud Run & co"],
        },
    )

    assert response["Location"] == (
        "/costs/?month=2026-10&env=staging&path=api-server&path=Cloud+Run+%26+co"
    )
