"""Billing Catalog adapter against the sandbox: SKUs and exact Decimal prices."""

from decimal import Decimal

import pytest

from platform_admin import gcp
from platform_admin.gcp_catalog import SERVICE_IDS, PriceTier, list_skus, money


def _by_description(skus) -> dict:
    return {s.description: s for s in skus}


def test_cloud_run_skus_carry_tiered_prices_as_decimals(gcp_sandbox):
    skus = _by_description(list_skus(SERVICE_IDS["cloud_run"]))

    cpu = skus["CPU Allocation Time (Request-based billing)"]
    assert cpu.service_id == "152E-C115-5142"
    assert (cpu.resource_family, cpu.resource_group) == ("Compute", "CPU")
    assert cpu.usage_unit == "s" and cpu.currency == "USD"
    assert cpu.regions == ("us-central1",)
    assert cpu.tiers == (
        PriceTier(Decimal(0), Decimal(0), Decimal(0)),  # the free tier
        PriceTier(Decimal(180000), Decimal("0.000024"), Decimal("0.000024")),
    )
    assert all(isinstance(t.unit_price, Decimal) for s in skus.values() for t in s.tiers)


def test_prices_per_base_unit_divide_by_the_conversion_factor(gcp_sandbox):
    skus = _by_description(list_skus(SERVICE_IDS["compute"]))

    core = skus["N2 Instance Core running in Americas"]
    assert (core.usage_unit, core.base_unit) == ("h", "s")
    assert core.base_unit_conversion_factor == 3600
    assert core.tiers[0].usage_unit_price == Decimal("0.031611")
    assert core.tiers[0].unit_price * 3600 == pytest.approx(Decimal("0.031611"))


def test_list_skus_reads_every_page(gcp_sandbox):
    everything = list_skus(SERVICE_IDS["cloud_run"])
    mark = len(gcp_sandbox.requests())

    paged = list_skus(SERVICE_IDS["cloud_run"], page_size=2)

    assert paged == everything
    calls = gcp_sandbox.requests(mark)
    assert len(calls) == (len(everything) + 1) // 2
    assert [c["query"].get("pageToken", "") for c in calls][:2] == ["", "2"]
    assert all(c["query"]["currencyCode"] == "USD" for c in calls)


def test_list_skus_by_region_keeps_global_skus(gcp_sandbox):
    everywhere = list_skus("E505-1604-58F8")  # the sandbox's networking SKUs

    in_europe = list_skus("E505-1604-58F8", region="europe-west1")

    assert in_europe == [s for s in everywhere if "global" in s.regions]
    assert len(in_europe) < len(everywhere) or all("global" in s.regions for s in everywhere)


def test_an_unknown_catalog_service_is_not_found(gcp_sandbox):
    with pytest.raises(gcp.GcpNotFound, match="0000-0000-0000"):
        list_skus("0000-0000-0000")


@pytest.mark.parametrize(
    ("units", "nanos", "expected"),
    [(0, 24_000, "0.000024"), (1, 500_000_000, "1.5"), (-2, -750_000_000, "-2.75"), (0, 0, "0")],
)
def test_money_is_exact(units, nanos, expected):
    assert money(units, nanos) == Decimal(expected)
    assert str(money(units, nanos)) == expected
