"""Cloud Billing Catalog v1: services and SKUs with list prices (USD, us-central1).

Prices follow shared/billing-data.md. SKU ids are synthetic but stable. The billing
export synthesiser prices its rows from this same table, so both always agree.
"""

from dataclasses import dataclass
from decimal import Decimal

from . import det
from .cloudrun import page
from .errors import ApiError, not_found

SERVICES = {
    "run": ("152E-C115-5142", "Cloud Run"),
    "compute": ("6F81-5844-456A", "Compute Engine"),
    "sql": ("9662-B51E-5089", "Cloud SQL"),
    "storage": ("95FF-2EF5-5EA1", "Cloud Storage"),
    "redis": ("5AF5-2C11-D467", "Cloud Memorystore for Redis"),
    "network": ("E505-1604-58F8", "Networking"),
}
GIB = 1073741824
MONTH_S = 730 * 3600
# usage unit -> (description, base unit, base unit description, conversion factor)
UNITS = {
    "s": ("second", "s", "second", 1),
    "h": ("hour", "s", "second", 3600),
    "count": ("count", "count", "count", 1),
    "GiBy.s": ("gibibyte second", "By.s", "byte second", GIB),
    "GiBy.h": ("gibibyte hour", "By.s", "byte second", GIB * 3600),
    "GiBy.mo": ("gibibyte month", "By.s", "byte second", GIB * MONTH_S),
    "GiBy": ("gibibyte", "By", "byte", GIB),
    "USD": ("US dollar", "USD", "US dollar", 1),
}


@dataclass(frozen=True)
class Sku:
    key: str  # how the billing synthesiser refers to it
    service: str
    description: str
    family: str
    group: str
    unit: str
    tiers: tuple  # ((start usage in `unit`, price per `unit` as str), ...)
    regions: tuple = ("us-central1",)
    usage_type: str = "OnDemand"

    @property
    def sku_id(self) -> str:
        return "-".join(det.digest("sku", self.key).upper()[i : i + 4] for i in (0, 4, 8))

    def price(self, tier: int = -1) -> Decimal:
        return Decimal(self.tiers[tier][1])


def _commit(key, what, group, unit, price, term):
    return Sku(
        f"gce.cud_{key}",
        "compute",
        f"Commitment v1: {what} in Americas for {term}",
        "Compute",
        group,
        unit,
        ((0, price),),
        ("us-central1",),
        "Commit1Yr" if term == "1 Year" else "Commit3Yr",
    )


def _s(key, service, description, family, group, unit, *tiers, regions=("us-central1",)):
    return Sku(key, service, description, family, group, unit, tuple(tiers), regions)


SKUS = [
    _s(
        "run.cpu",
        "run",
        "CPU Allocation Time (Request-based billing)",
        "Compute",
        "CPU",
        "s",
        (0, "0"),
        (180_000, "0.000024"),
    ),
    _s(
        "run.mem",
        "run",
        "Memory Allocation Time (Request-based billing)",
        "Compute",
        "RAM",
        "GiBy.s",
        (0, "0"),
        (360_000, "0.0000025"),
    ),
    _s(
        "run.requests",
        "run",
        "Requests",
        "ApplicationServices",
        "Requests",
        "count",
        (0, "0"),
        (2_000_000, "0.0000004"),
    ),
    _s(
        "run.idle_cpu",
        "run",
        "Idle Min-Instance CPU Allocation Time",
        "Compute",
        "CPU",
        "s",
        (0, "0.0000025"),
    ),
    _s(
        "run.idle_mem",
        "run",
        "Idle Min-Instance Memory Allocation Time",
        "Compute",
        "RAM",
        "GiBy.s",
        (0, "0.0000025"),
    ),
    _s(
        "run.cpu_instance",
        "run",
        "CPU Allocation Time (Instance-based billing)",
        "Compute",
        "CPU",
        "s",
        (0, "0.000018"),
    ),
    _s(
        "run.mem_instance",
        "run",
        "Memory Allocation Time (Instance-based billing)",
        "Compute",
        "RAM",
        "GiBy.s",
        (0, "0.000002"),
    ),
    _s(
        "gce.n2_core",
        "compute",
        "N2 Instance Core running in Americas",
        "Compute",
        "CPU",
        "h",
        (0, "0.031611"),
    ),
    _s(
        "gce.n2_ram",
        "compute",
        "N2 Instance Ram running in Americas",
        "Compute",
        "RAM",
        "GiBy.h",
        (0, "0.004237"),
    ),
    _s(
        "gce.e2_core",
        "compute",
        "E2 Instance Core running in Americas",
        "Compute",
        "CPU",
        "h",
        (0, "0.021811"),
    ),
    _s(
        "gce.e2_ram",
        "compute",
        "E2 Instance Ram running in Americas",
        "Compute",
        "RAM",
        "GiBy.h",
        (0, "0.002923"),
    ),
    _s(
        "gce.n1_core",
        "compute",
        "N1 Predefined Instance Core running in Americas",
        "Compute",
        "CPU",
        "h",
        (0, "0.031611"),
    ),
    _s(
        "gce.n1_ram",
        "compute",
        "N1 Predefined Instance Ram running in Americas",
        "Compute",
        "RAM",
        "GiBy.h",
        (0, "0.004237"),
    ),
    # Resource-based committed use (what a commitment's fee is charged at, per hour).
    _commit("n2_core_1y", "N2 Cpu", "CPU", "h", "0.019915", "1 Year"),
    _commit("n2_ram_1y", "N2 Ram", "RAM", "GiBy.h", "0.002669", "1 Year"),
    _commit("n2_core_3y", "N2 Cpu", "CPU", "h", "0.014225", "3 Years"),
    _commit("n2_ram_3y", "N2 Ram", "RAM", "GiBy.h", "0.001907", "3 Years"),
    _commit("e2_core_1y", "E2 Cpu", "CPU", "h", "0.013741", "1 Year"),
    _commit("e2_ram_1y", "E2 Ram", "RAM", "GiBy.h", "0.001842", "1 Year"),
    _commit("e2_core_3y", "E2 Cpu", "CPU", "h", "0.009815", "3 Years"),
    _commit("e2_ram_3y", "E2 Ram", "RAM", "GiBy.h", "0.001316", "3 Years"),
    # Spend-based committed use on Cloud Run: the fee per dollar of on-demand spend
    # committed (17% off, both terms).
    Sku(
        "run.cud_spend_1y",
        "run",
        "Commitment - dollar based v1: Cloud Run for 1 Year",
        "Compute",
        "Commitment",
        "USD",
        ((0, "0.83"),),
        ("us-central1",),
        "Commit1Yr",
    ),
    Sku(
        "run.cud_spend_3y",
        "run",
        "Commitment - dollar based v1: Cloud Run for 3 Years",
        "Compute",
        "Commitment",
        "USD",
        ((0, "0.83"),),
        ("us-central1",),
        "Commit3Yr",
    ),
    _s(
        "gce.pd_balanced",
        "compute",
        "Balanced PD Capacity",
        "Storage",
        "SSD",
        "GiBy.mo",
        (0, "0.1"),
    ),
    _s(
        "sql.cpu",
        "sql",
        "Cloud SQL for PostgreSQL: Zonal - vCPU in Americas",
        "ApplicationServices",
        "SQLGen2InstancesCPU",
        "h",
        (0, "0.0413"),
    ),
    _s(
        "sql.ram",
        "sql",
        "Cloud SQL for PostgreSQL: Zonal - RAM in Americas",
        "ApplicationServices",
        "SQLGen2InstancesRAM",
        "GiBy.h",
        (0, "0.007"),
    ),
    _s(
        "sql.storage",
        "sql",
        "Cloud SQL for PostgreSQL: Zonal - Standard storage in Americas",
        "ApplicationServices",
        "SSD",
        "GiBy.mo",
        (0, "0.17"),
    ),
    _s(
        "sql.cpu_ha",
        "sql",
        "Cloud SQL for PostgreSQL: Regional - vCPU in Americas",
        "ApplicationServices",
        "SQLGen2InstancesCPU",
        "h",
        (0, "0.0826"),
    ),
    _s(
        "sql.ram_ha",
        "sql",
        "Cloud SQL for PostgreSQL: Regional - RAM in Americas",
        "ApplicationServices",
        "SQLGen2InstancesRAM",
        "GiBy.h",
        (0, "0.014"),
    ),
    _s(
        "redis.basic",
        "redis",
        "Redis Capacity Basic M1 Iowa",
        "ApplicationServices",
        "Memorystore",
        "GiBy.h",
        (0, "0.049"),
    ),
    _s(
        "sql.storage_ha",
        "sql",
        "Cloud SQL for PostgreSQL: Regional - Standard storage in Americas",
        "ApplicationServices",
        "SSD",
        "GiBy.mo",
        (0, "0.34"),
    ),
    _s(
        "redis.basic_m2",
        "redis",
        "Redis Capacity Basic M2 Iowa",
        "ApplicationServices",
        "Memorystore",
        "GiBy.h",
        (0, "0.027"),
    ),
    _s(
        "redis.standard_m1",
        "redis",
        "Redis Capacity Standard M1 Iowa",
        "ApplicationServices",
        "Memorystore",
        "GiBy.h",
        (0, "0.064"),
    ),
    _s(
        "redis.standard",
        "redis",
        "Redis Capacity Standard M2 Iowa",
        "ApplicationServices",
        "Memorystore",
        "GiBy.h",
        (0, "0.054"),
    ),
    _s(
        "gcs.standard",
        "storage",
        "Standard Storage US Regional",
        "Storage",
        "RegionalStorage",
        "GiBy.mo",
        (0, "0.02"),
    ),
    _s(
        "cdn.egress",
        "network",
        "Cloud CDN Cache Egress from North America to North America",
        "Network",
        "CDNEgress",
        "GiBy",
        (0, "0.08"),
        (10_240, "0.055"),
        (153_600, "0.03"),
        regions=("global",),
    ),
    _s(
        "net.egress",
        "network",
        "Network Internet Egress from Americas to Americas",
        "Network",
        "PremiumInternetEgress",
        "GiBy",
        (0, "0.12"),
        (1_024, "0.11"),
        (10_240, "0.08"),
        regions=("us-central1", "global"),
    ),
]
BY_KEY = {sku.key: sku for sku in SKUS}


def priced(state, sku: Sku) -> Sku:
    """The SKU with the price a test set through the control API (a price change)."""
    override = state.data.get("prices", {}).get(sku.key)
    if override is None:
        return sku
    tiers = tuple(
        (start, override) if i == len(sku.tiers) - 1 else (start, p)
        for i, (start, p) in enumerate(sku.tiers)
    )
    return Sku(
        sku.key,
        sku.service,
        sku.description,
        sku.family,
        sku.group,
        sku.unit,
        tiers,
        sku.regions,
        sku.usage_type,
    )


def set_price(state, req, m):
    """POST /sandbox/v1/prices {"sku": key, "price": "0.00002"}: the SKU's last tier
    costs that per usage unit from now on (the list price changed)."""
    body = dict(req.body or {})
    key, price = body.get("sku"), body.get("price")
    if key not in BY_KEY:
        raise ApiError(400, f"unknown sku key {key!r}; one of {', '.join(sorted(BY_KEY))}")
    try:
        Decimal(str(price))
    except ArithmeticError:
        raise ApiError(400, f"price {price!r} is not a decimal number") from None
    state.data.setdefault("prices", {})[key] = str(price)
    state.save()
    return 200, {"sku": key, "price": str(price), "skuId": BY_KEY[key].sku_id}


def money(amount: Decimal, currency: str = "USD") -> dict:
    units = int(amount)
    nanos = int(((amount - units) * 1_000_000_000).to_integral_value())
    return {"currencyCode": currency, "units": str(units), "nanos": nanos}


def render_sku(sku: Sku) -> dict:
    service_id, service_name = SERVICES[sku.service]
    desc, base, base_desc, factor = UNITS[sku.unit]
    return {
        "name": f"services/{service_id}/skus/{sku.sku_id}",
        "skuId": sku.sku_id,
        "description": sku.description,
        "category": {
            "serviceDisplayName": service_name,
            "resourceFamily": sku.family,
            "resourceGroup": sku.group,
            "usageType": sku.usage_type,
        },
        "serviceRegions": list(sku.regions),
        "pricingInfo": [
            {
                "summary": "",
                "currencyConversionRate": 1,
                "effectiveTime": "2026-01-01T00:00:00Z",
                "pricingExpression": {
                    "usageUnit": sku.unit,
                    "usageUnitDescription": desc,
                    "baseUnit": base,
                    "baseUnitDescription": base_desc,
                    "baseUnitConversionFactor": factor,
                    "displayQuantity": 1,
                    "tieredRates": [
                        {"startUsageAmount": start, "unitPrice": money(Decimal(p))}
                        for start, p in sku.tiers
                    ],
                },
            }
        ],
        "serviceProviderName": "Google",
        "geoTaxonomy": {
            "type": "GLOBAL" if "global" in sku.regions else "REGIONAL",
            "regions": [r for r in sku.regions if r != "global"],
        },
    }


def list_services(state, req, m):
    services = [
        {
            "name": f"services/{sid}",
            "serviceId": sid,
            "displayName": name,
            "businessEntityName": "businessEntities/GCP",
        }
        for sid, name in SERVICES.values()
    ]
    chunk, token = page(services, req.query, default_size=5000)
    return 200, {"services": chunk, "nextPageToken": token}


def list_skus(state, req, m):
    if req.query.get("currencyCode", "USD") != "USD":
        raise ApiError(400, "The sandbox catalog only has USD prices.")
    key = next((k for k, (sid, _) in SERVICES.items() if sid == m["service"]), None)
    if key is None:
        raise not_found(f"Service 'services/{m['service']}'")
    skus = [render_sku(priced(state, s)) for s in SKUS if s.service == key]
    chunk, token = page(skus, req.query, default_size=5000)
    return 200, {"skus": chunk, "nextPageToken": token}


ROUTES = [
    ("GET", r"/v1/services", list_services),
    ("GET", r"/v1/services/(?P<service>[^/]+)/skus", list_skus),
    ("POST", r"/sandbox/v1/prices", set_price),
]
