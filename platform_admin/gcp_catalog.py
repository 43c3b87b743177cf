"""Cloud Billing Catalog v1: public list prices (SKUs) of the services the platform uses.

Prices are Decimals built exactly from Google's `units` + `nanos`, never floats.
"""

from dataclasses import dataclass
from decimal import Decimal

from platform_admin import gcp

SERVICE_IDS = {
    "cloud_run": "152E-C115-5142",
    "compute": "6F81-5844-456A",
    "cloud_sql": "9662-B51E-5089",
    "storage": "95FF-2EF5-5EA1",
    "memorystore": "5AF5-2C11-D467",
    "network": "E505-1604-58F8",
}
PAGE_SIZE = 5000  # the API's maximum: Cloud Run fits in one page, Compute needs several


@dataclass(frozen=True)
class PriceTier:
    """From `start_amount` usage units on, each base unit costs `unit_price`.

    `usage_unit_price` is the price as Google lists it, per usage unit (per hour, per
    GiB-month...); `unit_price` is that divided by the base-unit conversion factor, the
    price per base unit (per second, per byte-second...).
    """

    start_amount: Decimal
    unit_price: Decimal
    usage_unit_price: Decimal = Decimal(0)


@dataclass(frozen=True)
class Sku:
    """One priced thing (e.g. "CPU Allocation Time") with its tiered prices."""

    sku_id: str
    description: str
    service_id: str
    resource_family: str
    resource_group: str
    usage_type: str
    regions: tuple[str, ...]
    usage_unit: str
    tiers: tuple[PriceTier, ...]
    currency: str
    base_unit: str = ""
    base_unit_conversion_factor: Decimal = Decimal(1)


def _tidy(value: Decimal) -> Decimal:
    # Same value, no trailing zeros and no exponent for whole numbers (180000, not 1.8E+5).
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def money(units: int, nanos: int) -> Decimal:
    """An exact Decimal from google.type.Money's integer units and nanos (same sign)."""
    return _tidy(Decimal(units) + Decimal(nanos).scaleb(-9))


def _decimal(number: float) -> Decimal:
    # Usage amounts and factors are doubles on the wire; repr() gives the shortest
    # spelling that round-trips (1073741824.0, not 1073741823.99999...).
    return _tidy(Decimal(repr(number)))


def _sku(raw, service_id: str, currency: str) -> Sku:
    expression = raw.pricing_info[0].pricing_expression if raw.pricing_info else None
    factor = _decimal(expression.base_unit_conversion_factor) if expression else Decimal(1)
    factor = factor or Decimal(1)
    tiers = []
    for rate in expression.tiered_rates if expression else []:
        price = money(rate.unit_price.units, rate.unit_price.nanos)
        currency = rate.unit_price.currency_code or currency
        tiers.append(
            PriceTier(
                start_amount=_decimal(rate.start_usage_amount),
                unit_price=_tidy(price / factor),
                usage_unit_price=price,
            )
        )
    return Sku(
        sku_id=raw.sku_id,
        description=raw.description,
        service_id=service_id,
        resource_family=raw.category.resource_family,
        resource_group=raw.category.resource_group,
        usage_type=raw.category.usage_type,
        regions=tuple(raw.service_regions),
        usage_unit=expression.usage_unit if expression else "",
        tiers=tuple(tiers),
        currency=currency,
        base_unit=expression.base_unit if expression else "",
        base_unit_conversion_factor=factor,
    )


def list_skus(
    service_id: str,
    currency: str = "USD",
    region: str | None = None,
    page_size: int = PAGE_SIZE,
) -> list[Sku]:
    """Every SKU of a service (all pages); with `region`, only SKUs sold there or global."""
    what = f"listing prices of billing catalog service {service_id}"
    with gcp.translate(what, "", api="catalog"):  # the catalog is not per project
        pager = gcp.catalog_client().list_skus(
            request={
                "parent": f"services/{service_id}",
                "currency_code": currency,
                "page_size": page_size,
            },
            timeout=gcp.timeout(),
            retry=gcp.retry_policy(),
        )
        skus = [_sku(raw, service_id, currency) for raw in pager]
    if region:
        skus = [s for s in skus if region in s.regions or "global" in s.regions]
    return skus
