"""Committed-use discounts in an invoice month, per environment, from the daily rollups.

Google bills a commitment as a fee (the "Commitment v1: N2 Cpu in Americas for 1 Year"
SKUs of resource-based commitments, "Commitment - dollar based v1: Cloud Run for 1 Year"
of spend-based ones) and gives the usage it covers a credit of that usage's on-demand
cost (`COMMITTED_USAGE_DISCOUNT`, `COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE`). Per
commitment line (a machine family's vCPU and memory; a service's spend):

- value: what the commitment is worth at on-demand prices — the fee × on-demand ÷
  commitment price of its SKUs (the price snapshot), or the fee ÷ (1 − Google's
  spend-based rate);
- utilisation = credits earned ÷ value: how much of what was paid for was used;
- coverage = credits ÷ eligible usage (its on-demand cost after free tiers): how much of
  the usage the commitment could cover it did. Eligible: the family's VM core and RAM
  usage; for spend, the service's SKUs that earned the credit this month;
- a smaller commitment, sized to what was used, would have saved the unused value at
  the commitment price; an extra one covering the uncovered usage would have saved it
  at the discount, less the sustained-use discount that usage already had.

A family with VM usage and no commitment gets what a 1-year commitment would have saved.
Figures assume the month's usage was steady, as a commitment is (a fee every hour).
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from costs.estimate import SPEND_DISCOUNT
from costs.models import CostDaily
from costs.money import from_nanos, percent, shown, to_nanos
from costs.prices import Snapshot
from platform_admin.models import Environment, ServiceKind

RESOURCE_CREDIT = "COMMITTED_USAGE_DISCOUNT"
SPEND_CREDIT = "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE"
SUD_CREDIT = "SUSTAINED_USAGE_DISCOUNT"
FREE_CREDIT = "FREE_TIER"
RESOURCE_FEE = re.compile(
    r"Commitment v1: (?P<family>\w+) (?P<part>Cpu|Ram) in .+ for (?P<n>\d) Years?"
)
SPEND_FEE = re.compile(r"Commitment - dollar based v1: .+ for (?P<n>\d) Years?", re.IGNORECASE)
VM_USAGE = re.compile(
    r"(?P<family>\w+)( Predefined| Custom)? Instance (?P<part>Core|Ram) running in .+"
)
PARTS = {"Cpu": "core", "Core": "core", "Ram": "ram"}
SERVICE_KINDS = {
    "Cloud Run": ServiceKind.CLOUD_RUN,
    "Compute Engine": ServiceKind.GCE_VM,
    "Cloud SQL": ServiceKind.CLOUD_SQL,
    "Cloud Memorystore for Redis": ServiceKind.MEMORYSTORE,
}
TERM_WORDS = {"1y": "1 year", "3y": "3 years"}
NEGLIGIBLE = Decimal("0.005")  # under half a cent: nothing to save


@dataclass
class Line:
    """One commitment line of an environment's month (amounts positive, exact)."""

    environment: Environment
    kind: str  # "resource" | "spend"
    what: str  # "N2 vCPU and memory", "Cloud Run spend"
    terms: list[str]
    fee: Decimal = Decimal(0)
    value: Decimal | None = Decimal(0)  # None: no price to value the fee with
    credits: Decimal = Decimal(0)
    eligible: Decimal = Decimal(0)
    sud: Decimal = Decimal(0)  # sustained-use discount on the eligible usage
    discount: Decimal | None = None  # the commitment's rate off on-demand
    currency: str = "USD"

    @property
    def held(self) -> bool:
        return bool(self.fee or self.credits)

    @property
    def held_as(self) -> str:
        """ "resource-based, 1 year"; "none held" for usage without a commitment."""
        if not self.held:
            return "none held"
        terms = ", ".join(TERM_WORDS[t] for t in self.terms)
        return f"{self.kind}-based" + (f", {terms}" if terms else "")

    @property
    def utilisation(self) -> float | None:
        if not self.fee or not self.value:
            return None
        return float(min(self.credits / self.value, Decimal(1)))

    @property
    def coverage(self) -> float | None:
        if not self.eligible:
            return None
        return float(min(self.credits / self.eligible, Decimal(1)))

    @property
    def smaller_saving(self) -> Decimal | None:
        """The fee of the unused part: what a commitment sized to the usage it covered
        would have saved."""
        if not self.fee or self.value is None or self.discount is None:
            return None
        return max(self.fee - self.credits * (1 - self.discount), Decimal(0))

    @property
    def uncovered(self) -> Decimal:
        return max(self.eligible - self.credits, Decimal(0))

    @property
    def extra_saving(self) -> Decimal | None:
        """What committing to the uncovered usage as well would have saved (negative: the
        sustained-use discount it had already beat the commitment's)."""
        if self.discount is None:
            return None
        return self.uncovered * self.discount - self.sud

    @property
    def advice(self) -> list[str]:
        """What an extra or a smaller commitment would have saved, in sentences."""
        money = lambda amount: shown(amount, self.currency)  # noqa: E731
        had = f", less the {money(self.sud)} sustained-use discount it had" if self.sud else ""
        out = []
        if not self.held:  # what _discount priced: a 1-year commitment
            if self.extra_saving is not None and self.extra_saving > NEGLIGIBLE:
                out.append(
                    "No commitment: a 1-year commitment on this usage would have saved "
                    f"{money(self.extra_saving)} this month ({percent(self.discount)} off "
                    f"{money(self.eligible)}{had})."
                )
            elif self.extra_saving is not None:
                out.append(
                    f"No commitment, and none would have paid: the sustained-use discount "
                    f"({money(self.sud)}) already beats a 1-year commitment's."
                )
            return out
        if self.fee and self.value is None and self.kind == "resource":
            out.append(
                f"The price snapshot has no on-demand or commitment price of {self.what}: "
                "utilisation and savings need one (python manage.py refresh_prices)."
            )
        elif self.fee and self.value is None:
            out.append(
                f"Google's spend-based rate of {self.what} is not known here: utilisation and "
                "savings are not computed."
            )
        if not self.fee:
            out.append(
                "Credits without a fee: the commitment is billed to another project, so its "
                "utilisation shows there."
            )
        smaller = self.smaller_saving
        if smaller is not None and smaller > NEGLIGIBLE:
            out.append(
                f"Smaller: a commitment sized to the usage it covered ({percent(self.utilisation)} "
                f"of it) would have saved {money(smaller)}, the fee of the unused part."
            )
        extra = self.extra_saving
        if extra is not None and self.uncovered > NEGLIGIBLE:
            if extra > NEGLIGIBLE:
                out.append(
                    f"Extra: committing to the uncovered {money(self.uncovered)} of usage as well "
                    f"would have saved {money(extra)} ({percent(self.discount)} off{had})."
                )
            else:
                out.append(
                    f"Extra: the uncovered {money(self.uncovered)} of usage already gets a "
                    f"{money(self.sud)} sustained-use discount; committing to it would not have "
                    "saved anything."
                )
        if not out:
            out.append(
                "Fully used and covering all the eligible usage: neither a bigger nor a "
                "smaller commitment would have saved anything."
            )
        return out


def _term(years: str) -> str:
    return f"{years}y"


def month_lines(month: str, snapshot: Snapshot | None, currency: str) -> list[Line]:
    """Every environment's commitment lines in the invoice month (two queries), the
    environments in their order, resource lines before spend ones."""
    rows = CostDaily.objects.filter(invoice_month=month, environment__isnull=False)
    per_sku = (
        rows.values("environment", "service_description", "sku_id", "sku_description")
        .annotate(cost=Sum("cost_nanos"))
        .order_by()
    )
    credited = rows.exclude(credits_nanos=0).values_list(
        "environment", "service_description", "sku_id", "credits_by_type"
    )
    credits: dict[tuple[int, str], dict[str, int]] = {}  # (env, sku id) -> type -> nanos
    for env_id, _service, sku_id, by_type in credited:
        bucket = credits.setdefault((env_id, sku_id), {})
        for kind, amount in (by_type or {}).items():
            bucket[kind] = bucket.get(kind, 0) + to_nanos(Decimal(amount))
    envs = {env.pk: env for env in Environment.objects.all()}
    lines: dict[tuple[int, str, str], Line] = {}

    def line(env_id: int, kind: str, what: str) -> Line:
        key = (env_id, kind, what)
        if key not in lines:
            lines[key] = Line(envs[env_id], kind, what, [], currency=currency)
        return lines[key]

    for row in per_sku:
        env_id, description = row["environment"], row["sku_description"]
        if env_id not in envs:
            continue
        env, cost = envs[env_id], from_nanos(row["cost"] or 0)
        by_type = credits.get((env_id, row["sku_id"]), {})
        if fee := RESOURCE_FEE.fullmatch(description):
            family, term = fee["family"], _term(fee["n"])
            ratio = _price_ratio(snapshot, env.region, family.lower(), PARTS[fee["part"]], term)
            worth = None if ratio is None else cost * ratio
            _add_fee(line(env_id, "resource", f"{family} vCPU and memory"), term, cost, worth)
        elif fee := SPEND_FEE.fullmatch(description):
            service, term = row["service_description"], _term(fee["n"])
            rate = SPEND_DISCOUNT.get(SERVICE_KINDS.get(service), {}).get(term)
            worth = None if rate is None else cost / (1 - rate)
            _add_fee(line(env_id, "spend", f"{service} spend"), term, cost, worth)
        elif usage := VM_USAGE.fullmatch(description):
            target = line(env_id, "resource", f"{usage['family']} vCPU and memory")
            target.eligible += cost + from_nanos(by_type.get(FREE_CREDIT, 0))
            target.credits -= from_nanos(by_type.get(RESOURCE_CREDIT, 0))
            target.sud -= from_nanos(by_type.get(SUD_CREDIT, 0))
        elif SPEND_CREDIT in by_type:
            target = line(env_id, "spend", f"{row['service_description']} spend")
            target.eligible += cost + from_nanos(by_type.get(FREE_CREDIT, 0))
            target.credits -= from_nanos(by_type[SPEND_CREDIT])
    order = {pk: index for index, pk in enumerate(envs)}
    out = []
    for env_id, kind, what in sorted(lines, key=lambda k: (order[k[0]], k[1], k[2])):
        found = lines[env_id, kind, what]
        if found.held or found.eligible:
            _discount(found, snapshot)
            out.append(found)
    return out


def _add_fee(line: Line, term: str, fee: Decimal, worth: Decimal | None) -> None:
    """A commitment fee and its worth at on-demand prices (None: no price to tell)."""
    if term not in line.terms:
        line.terms.append(term)
    line.fee += fee
    if worth is None or line.value is None:
        line.value = None
    else:
        line.value += from_nanos(to_nanos(worth))


def _price_ratio(snapshot, region: str, family: str, part: str, term: str) -> Decimal | None:
    """On-demand ÷ commitment price of a family's vCPU or memory, from the snapshot."""
    if snapshot is None:
        return None
    committed = snapshot.price(region, f"gce.cud.{part}.{family}.{term}")
    on_demand = snapshot.price(region, f"gce.{part}.{family}")
    if committed is None or on_demand is None or not committed.unit_price:
        return None
    return on_demand.unit_price / committed.unit_price


def _discount(line: Line, snapshot) -> None:
    """The line's rate off on-demand prices: its fee's against its worth; for a family
    without a commitment, what a 1-year one would give."""
    if line.fee:
        if line.value:
            line.discount = 1 - line.fee / line.value
        return
    line.value = None  # nothing committed, nothing to be worth
    if line.kind == "resource" and not line.credits:
        family = line.what.split(" ", 1)[0].lower()
        ratios = [
            _price_ratio(snapshot, line.environment.region, family, part, "1y")
            for part in ("core", "ram")
        ]
        if all(ratios):
            # The usage's own mix of vCPU and memory is not known here: the cheaper rate.
            line.discount = min(1 - 1 / ratio for ratio in ratios)
