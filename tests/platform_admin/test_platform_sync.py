"""sync_platform: idempotent, atomic, explicit about what the file no longer lists."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from platform_admin.models import AuditEvent, Environment, PlatformSettings, Service
from tests.conftest import EXAMPLE_PLATFORM

pytestmark = pytest.mark.django_db


def sync(path) -> str:
    out = StringIO()
    call_command("sync_platform", str(path), stdout=out)
    return out.getvalue()


def test_first_sync_creates_the_teams_platform():
    output = sync(EXAMPLE_PLATFORM)

    staging = Environment.objects.get(slug="staging")
    production = Environment.objects.get(slug="production")
    assert production.requires_approval and production.promote_from == staging
    assert (staging.monthly_target, production.monthly_target) == (300, 1000)
    assert (staging.slo_p95_ms, production.slo_p95_ms) == (500, 200)
    assert str(production.slo_uptime) == "0.99900"
    assert production.canary_steps == [5, 25, 50, 100]
    for env in (staging, production):
        names = set(env.services.values_list("name", flat=True))
        assert {
            "api-server",
            "realtime",
            "agent",
            "livekit",
            "postgres",
            "redis",
            "vpc-connector",
            "frontend",
        } == names
    assert production.commitments[0] == {
        "type": "resource",
        "term": "1y",
        "share": "1",
        "services": ["livekit"],
    }
    assert staging.cost_plan["total"] == ["225", "280"]
    assert staging.cost_plan["components"][2] == {
        "name": "VPC connector",
        "services": ["vpc-connector"],
        "cost": ["8", "8"],
    }
    livekit = production.services.get(name="livekit")
    assert livekit.kind == "gce_vm" and livekit.spec["machine_type"] == "n2-standard-4"
    assert PlatformSettings.load().billing_account == "01A2B3-C4D5E6-F7A8B9"
    assert "created environment production" in output
    created = AuditEvent.objects.get(
        action="platform.environment.created", environment="production"
    )
    assert created.detail["values"]["promote_from"] == "staging"
    assert created.detail["values"]["canary_steps"] == [5, 25, 50, 100]
    assert not AuditEvent.objects.filter(action="platform.environment.updated").exists()


def test_second_sync_changes_nothing_and_writes_no_audit_events():
    sync(EXAMPLE_PLATFORM)
    events = AuditEvent.objects.count()

    output = sync(EXAMPLE_PLATFORM)

    assert AuditEvent.objects.count() == events
    assert "0 created, 0 updated" in output


def test_changed_value_is_updated_and_audited_with_old_and_new(tmp_path):
    sync(EXAMPLE_PLATFORM)
    changed = tmp_path / "p.toml"
    changed.write_text(
        EXAMPLE_PLATFORM.read_text().replace("monthly_target = 300", "monthly_target = 350")
    )

    output = sync(changed)

    assert Environment.objects.get(slug="staging").monthly_target == 350
    event = AuditEvent.objects.filter(action="platform.environment.updated").get()
    assert event.environment == "staging"
    assert event.detail["changes"]["monthly_target"] == ["300.00", "350"]
    assert "updated environment staging" in output


def test_service_removed_from_file_is_reported_not_deleted(tmp_path):
    sync(EXAMPLE_PLATFORM)
    text = EXAMPLE_PLATFORM.read_text()
    without_agent = text.replace(
        '[[environments.services]]\nname = "agent"', '[[environments.services]]\nname = "agent2"', 1
    ).replace('"realtime", "agent"]', '"realtime", "agent2"]', 1)  # staging's plan names it
    path = tmp_path / "p.toml"
    path.write_text(without_agent)

    output = sync(path)

    assert Service.objects.filter(environment__slug="staging", name="agent").exists()
    assert "not in file (kept, delete by hand if intended) service staging/agent" in output


@pytest.mark.parametrize(
    ("old", "new", "key", "line_of"),
    [
        (
            "steps = [5, 25, 50, 100]",
            "steps = [5, 25, 50, 90]",
            "environments[0].canary.steps",
            "steps = [5, 25, 50, 90]",
        ),
        (
            'kind = "cloud_run"',
            'kind = "lambda"',
            "environments[0].services[0].kind",
            'kind = "lambda"',
        ),
        (
            "monthly_target = 1000",
            "monthly_target = -5",
            "environments[1].monthly_target",
            "monthly_target = -5",
        ),
        (
            "bake_seconds = 300",
            "bake_secs = 300",
            "environments[1].canary.bake_secs",
            "bake_secs = 300",
        ),
        (
            "expected_rps = [1, 5]",
            "expected_rps = [5, 1]",
            "environments[0].services[0].expected_rps",
            "expected_rps = [5, 1]",
        ),
        (
            'services = ["vpc-connector"]',
            'services = ["vpc-conector"]',
            "environments[0].plan.components[2].services",
            'services = ["vpc-conector"]',
        ),
        ("share = 0.5", "share = 1.5", "environments[1].commitments[1].share", "share = 1.5"),
        (
            'billing = "request"',
            'billing = "requests"',
            "environments[0].services[2].billing",
            'billing = "requests"',
        ),
    ],
)
def test_bad_file_is_refused_whole_naming_key_path_and_line(tmp_path, old, new, key, line_of):
    sync(EXAMPLE_PLATFORM)
    # Change something valid first, so a partial apply would be visible.
    text = EXAMPLE_PLATFORM.read_text().replace("monthly_target = 300", "monthly_target = 310")
    text = text.replace(old, new, 1)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    before = AuditEvent.objects.count()
    expected_line = next(
        i for i, line in enumerate(text.splitlines(), 1) if line.startswith(line_of)
    )

    with pytest.raises(CommandError) as excinfo:
        sync(path)

    message = str(excinfo.value)
    assert "nothing changed" in message and key in message
    assert f"bad.toml:{expected_line}:" in message
    assert Environment.objects.get(slug="staging").monthly_target == 300
    assert AuditEvent.objects.count() == before


def test_invalid_toml_names_the_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[billing]\naccount = "01A2B3-C4D5E6-F7A8B9"\ncurrency = \n')

    with pytest.raises(CommandError, match=r"broken.toml:3: not valid TOML"):
        sync(path)
    assert not Environment.objects.exists()


def test_promote_from_must_name_an_environment_in_the_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        EXAMPLE_PLATFORM.read_text().replace('promote_from = "staging"', 'promote_from = "qa"')
    )

    with pytest.raises(CommandError, match="promote_from 'qa' names no environment"):
        sync(path)


def test_an_environment_cannot_be_named_unallocated(tmp_path):
    """The cost figures list environments and "unallocated" side by side."""
    path = tmp_path / "p.toml"
    text = EXAMPLE_PLATFORM.read_text().replace('slug = "staging"', 'slug = "unallocated"', 1)
    path.write_text(text.replace('promote_from = "staging"', 'promote_from = "unallocated"'))

    with pytest.raises(CommandError, match="'unallocated' is reserved: the cost figures name"):
        sync(path)
    assert not Environment.objects.exists()


def record_billing_part(spec, actor, report):
    """An app's part of the sync, as a later issue's `costs` will add one."""
    from platform_admin import audit

    audit.record("platform.test_part.synced", actor=actor, detail={"account": spec.billing.account})
    report.unchanged.append("test part")


def refusing_part(spec, actor, report):
    from platform_admin.platform_file import PlatformFileError

    raise PlatformFileError("platform.toml", "billing.export_table", 3, "no such table")


def test_each_apps_part_runs_in_the_sync_with_its_own_audit_event(settings):
    settings.PLATFORM_SYNC_PARTS = [f"{__name__}.record_billing_part"]

    output = sync(EXAMPLE_PLATFORM)

    assert "unchanged test part" in output
    assert AuditEvent.objects.filter(action="platform.test_part.synced").count() == 1


def test_a_part_that_refuses_the_file_refuses_it_whole(settings):
    settings.PLATFORM_SYNC_PARTS = [f"{__name__}.refusing_part"]

    with pytest.raises(CommandError, match=r"platform.toml:3: billing.export_table: no such"):
        sync(EXAMPLE_PLATFORM)

    assert not Environment.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'machine_type = "n2-standard-4"',
            'machine_type = "n2-standrd-4"',
            "machine_type 'n2-standrd-4' is not a Compute Engine machine type",
        ),
        (
            'tier = "db-n1-standard-1"',
            'tier = "db-n1-huge-1"',
            "tier 'db-n1-huge-1' is not a Cloud SQL tier",
        ),
        ('tier = "basic"', 'tier = "premium"', "a memorystore tier is basic or standard"),
    ],
)
def test_sizing_the_estimator_cannot_price_is_refused(tmp_path, old, new, message):
    path = tmp_path / "p.toml"
    path.write_text(EXAMPLE_PLATFORM.read_text().replace(old, new, 1))

    with pytest.raises(CommandError, match=message):
        sync(path)
    assert not Environment.objects.exists()
