"""Cloud Billing Catalog v1 contract: services and tiered SKU prices."""

from decimal import Decimal

from google.cloud import billing_v1

RUN, COMPUTE = "services/152E-C115-5142", "services/6F81-5844-456A"


def price(rate) -> Decimal:
    return Decimal(rate.unit_price.units) + Decimal(rate.unit_price.nanos) / Decimal(10**9)


def skus_by_description(client, service: str) -> dict[str, billing_v1.Sku]:
    pager = client.list_skus(request={"parent": service, "currency_code": "USD"})
    return {s.description: s for s in pager}


def test_catalog_lists_the_platform_services(catalog_client):
    services = {s.service_id: s.display_name for s in catalog_client.list_services()}
    assert services["152E-C115-5142"] == "Cloud Run"
    assert {"6F81-5844-456A", "9662-B51E-5089", "95FF-2EF5-5EA1", "5AF5-2C11-D467"} <= set(services)


def test_cloud_run_cpu_has_a_free_first_tier_then_list_price(catalog_client):
    cpu = skus_by_description(catalog_client, RUN)["CPU Allocation Time (Request-based billing)"]
    expr = cpu.pricing_info[0].pricing_expression
    assert [r.start_usage_amount for r in expr.tiered_rates] == [0, 180000]
    assert [price(r) for r in expr.tiered_rates] == [Decimal(0), Decimal("0.000024")]
    assert "us-central1" in cpu.service_regions and cpu.category.resource_family == "Compute"


def test_n2_standard_4_prices_add_up_to_the_list_hourly_rate(catalog_client):
    skus = skus_by_description(catalog_client, COMPUTE)
    core = skus["N2 Instance Core running in Americas"].pricing_info[0].pricing_expression
    ram = skus["N2 Instance Ram running in Americas"].pricing_info[0].pricing_expression
    assert core.usage_unit == "h" and ram.usage_unit == "GiBy.h"
    assert ram.base_unit_conversion_factor == 1073741824 * 3600
    hourly = 4 * price(core.tiered_rates[0]) + 16 * price(ram.tiered_rates[0])
    assert hourly == Decimal("0.194236")


def test_skus_page_with_tokens(catalog_client, sandbox):
    pager = catalog_client.list_skus(request={"parent": RUN, "page_size": 3})
    assert len(list(pager)) == 9  # seven usage SKUs and two spend-based commitments
    calls = [r for r in sandbox.requests() if r["path"].endswith("/skus")]
    assert len(calls) == 3
