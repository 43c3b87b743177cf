"""Estimates of the example platform from the sandbox's Cloud Billing Catalog, against
figures computed here by hand from the same list prices (shared/billing-data.md)."""

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from costs import prices
from costs.estimate import estimate_all
from costs.models import PriceSnapshot
from platform_admin.models import AuditEvent, Service
from tests.platform_admin.conftest import gcp_sandbox  # noqa: F401 - a fixture by name

pytestmark = pytest.mark.django_db
H = Decimal(730)  # hours in Google's month
S = H * 3600
D = Decimal


@pytest.fixture
def snapshot(platform, gcp_sandbox):  # noqa: F811
    prices.refresh(actor="test")
    return prices.latest()


def _components(snapshot, slug):
    est = next(e for e in estimate_all(snapshot) if e.environment.slug == slug)
    return est, {c.name: c for c in est.components}


def test_each_kind_of_component_against_a_hand_computation(snapshot):
    est, c = _components(snapshot, "staging")

    # Cloud Run, instance-based, 1 min instance that the load never outgrows: always on.
    assert c["api-server"].low == c["api-server"].high == S * D("0.000018") + S * D("0.000002")
    # N2 VM: cores and RAM × 730 h with N2's sustained-use discount, disk, egress tier 1.
    sud = (D(1) + D("0.8678") + D("0.733") + D("0.6")) / 4
    vm = (4 * H * D("0.031611") + 16 * H * D("0.004237")) * sud
    assert c["livekit"].low == vm + 50 * D("0.1") + 200 * D("0.12")
    # Cloud SQL db-n1-standard-1: 1 vCPU + 3.75 GiB zonal, 20 GiB storage.
    assert c["postgres"].low == H * D("0.0413") + D("3.75") * H * D("0.007") + 20 * D("0.17")
    assert c["redis"].low == 1 * H * D("0.049")  # basic, 1 GiB
    # The VPC connector: 2–3 e2-micro (0.25 vCPU, 1 GiB each), E2 has no SUD.
    micro = D("0.25") * H * D("0.021811") + H * D("0.002923")
    assert (c["vpc-connector"].low, c["vpc-connector"].high) == (2 * micro, 3 * micro)
    assert c["frontend"].low == 5 * D("0.02") + 100 * D("0.08")
    assert est.low == sum(x.low for x in c.values())
    assert any("sustained-use discount" in line.text for line in c["livekit"].lines)


def test_committed_use_discounts_of_production(snapshot):
    _, c = _components(snapshot, "production")

    # Resource-based 1-year commitment on all of the VM: the commitment SKUs, no SUD.
    egress = 1024 * D("0.12") + (2000 - 1024) * D("0.11")  # through the first two tiers
    committed = 4 * H * D("0.019915") + 16 * H * D("0.002669")
    assert c["livekit"].low == committed + 100 * D("0.1") + egress
    assert not any("sustained-use" in line.text for line in c["livekit"].lines)
    # Spend-based 1-year on half of Cloud Run at 17% off.
    listed = 2 * 2 * S * D("0.000018") + 2 * 2 * S * D("0.000002")
    assert c["api-server"].low == listed - listed * D("0.5") * D("0.17")
    assert c["redis"].low == 5 * H * D("0.054")  # standard (HA), capacity band M2


def test_high_availability_doubles_cloud_sql(snapshot):
    _, before = _components(snapshot, "production")
    postgres = Service.objects.get(environment__slug="production", name="postgres")
    postgres.spec = {**postgres.spec, "high_availability": True}
    postgres.save()

    _, after = _components(snapshot, "production")

    assert after["postgres"].low == 2 * before["postgres"].low
    assert "Regional" in after["postgres"].lines[0].text


def test_the_request_based_free_tier_counts_once_per_billing_account(snapshot):
    estimates = estimate_all(snapshot)
    agents = [next(c for c in e.components if c.name == "agent") for e in estimates]
    cpu_lines = [
        next(li for li in a.lines if "CPU Allocation Time (Request" in li.text) for a in agents
    ]

    # Low end: staging 0.2 req/s × 4 s for 8 h/day on 1 vCPU (busy 0.8 of an instance);
    # production 2 req/s × 4 s for 16 h/day on 2 vCPU (8 in flight, one instance busy).
    day_s = 3600 * H / 24
    staging = D("0.8") * 8 * day_s * 1
    production = 1 * 16 * day_s * 2
    free = 180_000
    assert sum(li.low for li in cpu_lines) == (staging + production - free) * D("0.000024")
    # shared by usage: staging pays its share of the one free allowance
    assert cpu_lines[0].low == (staging + production - free) * D("0.000024") * staging / (
        staging + production
    )


def test_a_price_change_in_the_catalog_changes_the_estimate_after_refresh(snapshot, gcp_sandbox):  # noqa: F811
    _, before = _components(snapshot, "staging")
    gcp_sandbox._call("POST", "/sandbox/v1/prices", {"sku": "gce.n2_core", "price": "0.04"})

    _, unchanged = _components(prices.latest(), "staging")
    call_command("refresh_prices", stdout=StringIO())
    newer = prices.latest()
    _, after = _components(newer, "staging")

    assert unchanged["livekit"].low == before["livekit"].low  # estimates read the snapshot
    sud = (D(1) + D("0.8678") + D("0.733") + D("0.6")) / 4
    assert after["livekit"].low - before["livekit"].low == 4 * H * (D("0.04") - D("0.031611")) * sud
    assert newer.record.pk != snapshot.record.pk
    assert AuditEvent.objects.filter(action="prices.refreshed").count() == 2


def test_the_estimate_command_prints_every_line_and_json(snapshot):
    out = StringIO()
    call_command("estimate", "--env", "production", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())

    assert data["environment"] == "production" and data["currency"] == "USD"
    assert data["snapshot"]["id"] == snapshot.record.pk and not data["snapshot"]["stale"]
    assert data["components"]["redis"]["low"] == "197.10"
    assert any(
        "Commitment v1: N2 Cpu" in li["text"] for li in data["components"]["livekit"]["lines"]
    )
    text = StringIO()
    call_command("estimate", "--env", "staging", stdout=text)
    assert "Balanced PD Capacity" in text.getvalue() and "gap: Staging" in text.getvalue()
    with pytest.raises(CommandError, match="no environment 'nowhere'"):
        call_command("estimate", "--env", "nowhere", stdout=StringIO())


def test_the_estimate_command_without_a_snapshot_says_how_to_get_one(platform):
    with pytest.raises(CommandError, match="refresh_prices"):
        call_command("estimate", "--env", "staging", stdout=StringIO())


def test_costs_page_shows_estimate_plan_and_gaps(client, carol, snapshot):
    client.force_login(carol)
    est, _ = _components(snapshot, "staging")

    page = client.get("/costs/").content.decode()

    low, high = (f"{x.quantize(D('0.01')):,}" for x in (est.low, est.high))
    assert f"{low}–{high}" in page
    # The example plan's staging components add up above its own total.
    assert (
        "the plan&#x27;s components sum to $340.00–418.00, not its stated total $225.00–280.00"
        in page
    )
    assert "Cloud SQL db-n1-standard-1: our estimate $52.71 is below the plan&#x27;s $85.00" in page
    assert "stale" not in page


def test_a_stale_snapshot_is_flagged(client, carol, snapshot):
    PriceSnapshot.objects.update(taken_at=timezone.now() - timedelta(days=8))
    client.force_login(carol)

    page = client.get("/costs/").content.decode()
    details = client.get("/costs/estimate/staging/").content.decode()

    assert "stale: 8 days old" in page and "stale: 8 days old" in details


def test_the_details_view_explains_each_figure(client, alice, snapshot):
    client.force_login(alice)

    page = client.get("/costs/estimate/production/").content.decode()

    assert "N2 Instance Core" not in page  # fully committed: only the commitment SKUs
    assert "Commitment v1: N2 Cpu in Americas for 1 Year" in page
    assert "2,920.0 h × 0.019915 / h = 58.15" in page
    assert client.get("/costs/estimate/nowhere/").status_code == 404
