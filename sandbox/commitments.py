"""Committed-use discounts as the billing export shows them.

An environment's `[[environments.commitments]]` of the platform file are what it holds:

- resource-based (`type = "resource"`): the vCPUs and memory of its VMs × `share`, of the
  machine family. Every day bills the commitment's fee rows (the catalog's "Commitment
  v1: …" SKUs, no labels) and gives the VM core and RAM usage of that family a
  `COMMITTED_USAGE_DISCOUNT` credit of its on-demand cost, up to the committed hours; the
  sustained-use discount applies to what is left.
- spend-based (`type = "spend"`): `share` of the day's usual on-demand Cloud Run spend of
  the services it names. The fee is that amount at the spend discount ("Commitment -
  dollar based v1: …"); the services' CPU and memory usage earns a
  `COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE` credit, first come first covered, up to the
  amount. Days busier than usual are partly uncovered, quieter days leave some unused.
"""

from dataclasses import dataclass, field

from . import catalog
from .billing_usage import MACHINES, Usage, _cloud_run

RESOURCE, SPEND = "COMMITTED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE"


@dataclass
class Held:
    """One day of an environment's commitments: what is still there to cover."""

    hours: dict[str, float] = field(default_factory=dict)  # usage SKU key -> committed units
    pools: list[list] = field(default_factory=list)  # [service names, dollars left]
    fees: dict[str, float] = field(default_factory=dict)  # fee SKU key -> amount in its unit

    def cover(self, usage: Usage, cost: float) -> tuple[str, float] | None:
        """(credit type, amount) of `cost` (the usage's price past the free tier) that the
        commitments cover, taken from what is left of them today."""
        left = self.hours.get(usage.sku, 0.0)
        if left > 0 and usage.amount > 0:
            taken = min(left, usage.amount)
            self.hours[usage.sku] = left - taken
            return RESOURCE, cost * taken / usage.amount
        if not _spend_eligible(usage.sku):
            return None
        for pool in self.pools:
            names, dollars = pool
            if dollars > 0 and usage.component in names:
                taken = min(dollars, cost)
                pool[1] = dollars - taken
                return SPEND, taken
        return None


def _spend_eligible(sku_key: str) -> bool:
    return sku_key.startswith("run.") and sku_key != "run.requests"


def held(env) -> Held | None:
    """A fresh day of `env`'s commitments, or None when it holds none."""
    if not env.commitments:
        return None
    day = Held()
    for commitment in env.commitments:
        term, share = commitment.get("term", "1y"), float(commitment.get("share", 1))
        names = set(commitment.get("services") or ())
        if commitment.get("type") == "resource":
            for spec in env.of_kind("gce_vm"):
                if names and spec.name not in names:
                    continue
                cores, ram, family = MACHINES.get(
                    spec.get("machine_type"), MACHINES["n2-standard-4"]
                )
                for part, size in (("core", cores), ("ram", ram)):
                    fee = f"gce.cud_{family}_{part}_{term}"
                    if fee not in catalog.BY_KEY:
                        continue  # the family has no commitments
                    amount = size * share * 24
                    day.hours[f"gce.{family}_{part}"] = (
                        day.hours.get(f"gce.{family}_{part}", 0.0) + amount
                    )
                    day.fees[fee] = day.fees.get(fee, 0.0) + amount
        elif commitment.get("type") == "spend":
            specs = [s for s in env.of_kind("cloud_run") if not names or s.name in names]
            usual = sum(
                u.amount * float(catalog.BY_KEY[u.sku].price())
                for spec in specs
                for u in _cloud_run(spec, 1.0)
                if _spend_eligible(u.sku)
            )
            dollars = usual * share
            day.pools.append([{s.name for s in specs}, dollars])
            fee = f"run.cud_spend_{term}"
            day.fees[fee] = day.fees.get(fee, 0.0) + dollars
    return day
