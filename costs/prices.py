"""The list prices the estimator uses, snapshotted from the Cloud Billing Catalog.

`refresh()` reads each service's SKUs (platform_admin.gcp_catalog), picks the ones the
estimator prices with — per region the platform runs in, by the SKU's description as
Google names it — and stores them as one `PriceSnapshot`, tiers and free tiers as the
catalog states them. Estimates read the newest snapshot, never the API.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from costs.models import PriceSnapshot
from platform_admin import audit, gcp_catalog
from platform_admin.models import Environment, PlatformSettings

STALE_AFTER = timedelta(days=7)
FAMILIES = ("n1", "n2", "n2d", "e2", "c2", "c3", "t2d")
TERMS = {"1y": "1 Year", "3y": "3 Years"}
REDIS_BANDS = (1, 2, 3, 4, 5)


def _rules() -> dict[str, tuple[str, re.Pattern]]:
    """Estimator key → (catalog service, description pattern)."""
    run = {
        "run.cpu.request": r"CPU Allocation Time( \(Request-based billing\))?",
        "run.mem.request": r"Memory Allocation Time( \(Request-based billing\))?",
        "run.requests": r"Requests",
        "run.idle_cpu": r"Idle Min-Instance CPU Allocation Time",
        "run.idle_mem": r"Idle Min-Instance Memory Allocation Time",
        "run.cpu.instance": r"CPU Allocation Time \(Instance-based billing\)",
        "run.mem.instance": r"Memory Allocation Time \(Instance-based billing\)",
    }
    rules = {key: ("cloud_run", pattern) for key, pattern in run.items()}
    for family in FAMILIES:
        name = family.upper()
        rules[f"gce.core.{family}"] = (
            "compute",
            rf"{name}( Predefined)? Instance Core running in .+",
        )
        rules[f"gce.ram.{family}"] = (
            "compute",
            rf"{name}( Predefined)? Instance Ram running in .+",
        )
        for term, words in TERMS.items():
            rules[f"gce.cud.core.{family}.{term}"] = (
                "compute",
                rf"Commitment v1: {name} Cpu in .+ for {words}",
            )
            rules[f"gce.cud.ram.{family}.{term}"] = (
                "compute",
                rf"Commitment v1: {name} Ram in .+ for {words}",
            )
    rules["gce.disk.pd_balanced"] = ("compute", r"Balanced PD Capacity.*")
    for where in ("Zonal", "Regional"):
        low = where.lower()
        rules[f"sql.cpu.{low}"] = ("cloud_sql", rf"Cloud SQL for PostgreSQL: {where} - vCPU.*")
        rules[f"sql.ram.{low}"] = ("cloud_sql", rf"Cloud SQL for PostgreSQL: {where} - RAM.*")
        rules[f"sql.storage.{low}"] = (
            "cloud_sql",
            rf"Cloud SQL for PostgreSQL: {where} - Standard storage.*",
        )
    for tier in ("Basic", "Standard"):
        for band in REDIS_BANDS:
            rules[f"redis.{tier.lower()}.m{band}"] = (
                "memorystore",
                rf"Redis Capacity {tier} M{band} .+",
            )
    rules["gcs.standard"] = ("storage", r"Standard Storage .+")
    rules["cdn.egress"] = ("network", r"Cloud CDN Cache Egress from North America.*")
    rules["net.egress"] = ("network", r"Network Internet Egress from Americas to Americas")
    return {key: (service, re.compile(pattern)) for key, (service, pattern) in rules.items()}


RULES = _rules()
# What a platform needs at least: the keys refresh() reports as missing when absent. The
# per-family and per-band keys are only as needed as the machine types and tiers in use.
ESSENTIAL = {k for k in RULES if not k.startswith(("gce.", "redis."))}


@dataclass(frozen=True)
class Price:
    """One SKU of a snapshot: tiers of (start amount, price per usage unit)."""

    key: str
    sku_id: str
    description: str
    usage_unit: str
    tiers: tuple[tuple[Decimal, Decimal], ...]

    @property
    def unit_price(self) -> Decimal:
        """The price past any free tier (the last tier's)."""
        return self.tiers[-1][1] if self.tiers else Decimal(0)

    @property
    def free_amount(self) -> Decimal:
        """Usage at price 0 before the first paid tier (the free tier), if any."""
        if len(self.tiers) > 1 and self.tiers[0][1] == 0:
            return self.tiers[1][0]
        return Decimal(0)

    def cost(self, quantity: Decimal) -> Decimal:
        """The price of `quantity` usage units through the tiers, as Google bills it."""
        total = Decimal(0)
        for index, (start, price) in enumerate(self.tiers):
            end = self.tiers[index + 1][0] if index + 1 < len(self.tiers) else None
            if quantity <= start:
                break
            upto = quantity if end is None else min(quantity, end)
            total += (upto - start) * price
        return total


class Snapshot:
    """A PriceSnapshot, read: `price(region, key)` or None when the catalog had none."""

    def __init__(self, record: PriceSnapshot):
        self.record = record
        self.currency = record.currency
        self._prices: dict[str, Price] = {}
        for full_key, raw in record.skus.items():
            self._prices[full_key] = Price(
                key=full_key.split("/", 1)[1],
                sku_id=raw["sku_id"],
                description=raw["description"],
                usage_unit=raw["usage_unit"],
                tiers=tuple((Decimal(s), Decimal(p)) for s, p in raw["tiers"]),
            )

    def price(self, region: str, key: str) -> Price | None:
        return self._prices.get(f"{region}/{key}") or self._prices.get(f"global/{key}")

    @property
    def stale(self) -> bool:
        return timezone.now() - self.record.taken_at > STALE_AFTER

    @property
    def age_days(self) -> int:
        return (timezone.now() - self.record.taken_at).days


def latest() -> Snapshot | None:
    record = PriceSnapshot.objects.order_by("-taken_at", "-id").first()
    return Snapshot(record) if record else None


def regions() -> list[str]:
    return sorted(set(Environment.objects.values_list("region", flat=True)))


def _entry(sku: gcp_catalog.Sku) -> dict:
    return {
        "sku_id": sku.sku_id,
        "description": sku.description,
        "usage_unit": sku.usage_unit,
        "tiers": [[str(t.start_amount), str(t.usage_unit_price)] for t in sku.tiers],
    }


def _available(sku: gcp_catalog.Sku, region: str) -> bool:
    return region in sku.regions or "global" in sku.regions


def refresh(actor=None) -> PriceSnapshot:
    """Read the catalog and store a new snapshot (audited). Raises gcp errors as they
    come: the previous snapshot stays the newest."""
    currency = PlatformSettings.load().currency
    wanted = regions() or ["us-central1"]
    listed: dict[str, list[gcp_catalog.Sku]] = {}
    for service in sorted({service for service, _ in RULES.values()}):
        listed[service] = sorted(
            gcp_catalog.list_skus(gcp_catalog.SERVICE_IDS[service], currency),
            key=lambda s: (s.description, s.sku_id),
        )
    skus, missing = {}, []
    for region in wanted:
        for key, (service, pattern) in RULES.items():
            found = next(
                (
                    s
                    for s in listed[service]
                    if pattern.fullmatch(s.description) and _available(s, region)
                ),
                None,
            )
            if found is None:
                if key in ESSENTIAL:
                    missing.append(f"{region}/{key}")
                continue
            skus[f"{region}/{key}"] = _entry(found)
    record = PriceSnapshot.objects.create(
        currency=currency, skus=skus, missing=missing, taken_by=audit._actor_name(actor)
    )
    audit.record(
        "prices.refreshed",
        actor=actor,
        obj=record,
        detail={"skus": len(skus), "missing": missing, "regions": wanted, "currency": currency},
    )
    return record
