"""What the platform file's components should cost a month, from Google's list prices.

Each component is priced as a low–high range (the low and the high end of its expected
load), from the newest price snapshot (costs.prices), one explained line per SKU:
quantity × price = amount. A month is 730 hours, as Google's calculator counts it.

- Cloud Run, instance-based billing: vCPU-seconds and GiB-seconds of every instance for
  as long as it runs: while active, the instances the load needs (concurrent requests =
  requests/s × request time, ÷ concurrency, rounded up, within min and max instances);
  the rest of the month, the min instances. Request-based billing: the seconds
  instances are busy (requests packed `concurrency` to an instance, at least the share of
  one instance the requests keep busy), the request fee, and idle min instances at the
  idle price. The free tier of request-based billing (the catalog's zero-priced first
  tier) is the billing account's, once a month: it is applied to the account's total
  and shared among the services by their usage.
- Compute Engine VM: the machine type's cores and memory × 730 h, the sustained-use
  discount of its family (as Google computes it: each quarter of the month's hours at a
  lower rate), committed-use discounts from the platform file, the boot disk, internet
  egress through its tiers.
- Cloud SQL: vCPU + memory of the tier × 730 h and storage; high availability is the
  regional SKUs (twice the zonal). Memorystore: capacity × 730 h at the tier's and size
  band's price. Static site: storage + Cloud CDN egress. Serverless VPC connector: its
  instances (min–max) priced as the VMs they are.
"""

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from costs.prices import Price, Snapshot
from platform_admin.models import Environment, Service, ServiceKind

HOURS = Decimal(730)
SECONDS = HOURS * 3600
DAYS = HOURS / 24
LOW, HIGH = 0, 1
# Sustained-use discount: the rate of each quarter of the month's hours, by family.
SUD_QUARTERS = {
    "n1": (Decimal("1"), Decimal("0.8"), Decimal("0.6"), Decimal("0.4")),
    "n2": (Decimal("1"), Decimal("0.8678"), Decimal("0.733"), Decimal("0.6")),
    "n2d": (Decimal("1"), Decimal("0.8678"), Decimal("0.733"), Decimal("0.6")),
    "c2": (Decimal("1"), Decimal("0.8678"), Decimal("0.733"), Decimal("0.6")),
}
# Spend-based committed-use discounts: Google's published rates, by kind and term.
SPEND_DISCOUNT = {
    ServiceKind.CLOUD_RUN: {"1y": Decimal("0.17"), "3y": Decimal("0.17")},
    ServiceKind.GCE_VM: {"1y": Decimal("0.28"), "3y": Decimal("0.46")},
    ServiceKind.CLOUD_SQL: {"1y": Decimal("0.25"), "3y": Decimal("0.52")},
    ServiceKind.MEMORYSTORE: {"1y": Decimal("0.20"), "3y": Decimal("0.40")},
}
# GiB of memory per vCPU of the predefined shapes; shared-core types as (vCPU, GiB).
MEMORY_PER_VCPU = {
    "n1": {"standard": Decimal("3.75"), "highmem": Decimal("6.5"), "highcpu": Decimal("0.9")},
    "default": {"standard": Decimal(4), "highmem": Decimal(8), "highcpu": Decimal(1)},
}
SHARED_CORE = {
    "e2-micro": (Decimal("0.25"), Decimal(1)),
    "e2-small": (Decimal("0.5"), Decimal(2)),
    "e2-medium": (Decimal(1), Decimal(4)),
}
CLOUD_RUN_DEFAULTS = {"cpu": 1, "memory_gib": "0.5", "concurrency": 80, "max_instances": 100}


class MissingPrice(Exception):
    """The snapshot has no SKU for something a component needs."""


@dataclass
class Line:
    """One SKU's part of a component: what was counted and at which price."""

    text: str
    low: Decimal
    high: Decimal


@dataclass
class Component:
    name: str
    kind: str
    lines: list[Line] = field(default_factory=list)
    problem: str = ""

    @property
    def low(self) -> Decimal:
        return sum((line.low for line in self.lines), Decimal(0))

    @property
    def high(self) -> Decimal:
        return sum((line.high for line in self.lines), Decimal(0))


@dataclass
class EnvironmentEstimate:
    environment: Environment
    components: list[Component]
    snapshot: Snapshot

    @property
    def low(self) -> Decimal:
        return sum((c.low for c in self.components), Decimal(0))

    @property
    def high(self) -> Decimal:
        return sum((c.high for c in self.components), Decimal(0))

    def of(self, names) -> tuple[Decimal, Decimal]:
        chosen = [c for c in self.components if c.name in set(names)]
        return sum((c.low for c in chosen), Decimal(0)), sum((c.high for c in chosen), Decimal(0))


# --- formatting ------------------------------------------------------------------------


def number(value: Decimal, places: int = 2) -> str:
    """1234567.891 → "1,234,567.89"; small prices keep their digits (0.000018)."""
    value = Decimal(value)
    if value != 0 and abs(value) < 1 and places == 2:
        return format(value.normalize(), "f")
    quantized = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{quantized:,}"


def amount(value: Decimal) -> str:
    return number(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _both(low: Decimal, high: Decimal, places: int = 0) -> str:
    if low == high:
        return number(low, places)
    return f"{number(low, places)}–{number(high, places)}"


def _priced(price: Price, lows_highs: tuple[Decimal, Decimal], what: str, places=0) -> Line:
    low, high = lows_highs
    cost_low, cost_high = price.cost(low), price.cost(high)
    unit = price.usage_unit
    text = (
        f"{price.description} [{price.sku_id}]: {what} = {_both(low, high, places)} {unit} × "
        f"{rate(price)} = {_both_money(cost_low, cost_high)}"
    )
    return Line(text, cost_low, cost_high)


def rate(price: Price) -> str:
    """The price as the catalog states it: one rate, or its tiers."""
    unit = price.usage_unit
    if len(price.tiers) == 1:
        return f"{number(price.unit_price)} / {unit}"
    if price.free_amount and len(price.tiers) == 2:
        return f"{number(price.unit_price)} / {unit} past the first {number(price.free_amount, 0)}"
    tiers = ", ".join(f"{number(p)} from {number(s, 0)}" for s, p in price.tiers)
    return f"the tiered price / {unit} ({tiers})"


def _with_amount(text: str, low: Decimal, high: Decimal) -> Line:
    return Line(f"{text} = {_both_money(low, high)}", low, high)


def _both_money(low: Decimal, high: Decimal) -> str:
    if amount(low) == amount(high):
        return amount(low)
    return f"{amount(low)} to {amount(high)}" if low < 0 else f"{amount(low)}–{amount(high)}"


def _need(snapshot: Snapshot, region: str, key: str, what: str) -> Price:
    price = snapshot.price(region, key)
    if price is None:
        raise MissingPrice(
            f"no price for {what} in {region} in the price snapshot of "
            f"{snapshot.record.taken_at:%Y-%m-%d} (catalog key {key}): refresh the prices"
        )
    return price


def _dec(spec: dict, key: str, default) -> Decimal:
    value = spec.get(key)
    return Decimal(str(default if value is None else value))


def _range(spec: dict, key: str, default) -> tuple[Decimal, Decimal]:
    value = spec.get(key)
    if value is None:
        return Decimal(str(default)), Decimal(str(default))
    if isinstance(value, list):
        return Decimal(value[0]), Decimal(value[1])
    return Decimal(str(value)), Decimal(str(value))


# --- Cloud Run -------------------------------------------------------------------------


@dataclass
class RunUsage:
    """A Cloud Run service's month at the low and the high end of its load."""

    service: Service
    billing: str
    cpu: Decimal
    memory: Decimal
    instance_seconds: tuple[Decimal, Decimal]  # instance-based: every running second
    busy_seconds: tuple[Decimal, Decimal]  # request-based: seconds serving requests
    idle_seconds: tuple[Decimal, Decimal]  # request-based: min instances not serving
    requests: tuple[Decimal, Decimal]
    explained: tuple[str, str]


def run_usage(service: Service) -> RunUsage:
    spec = {**CLOUD_RUN_DEFAULTS, **service.spec}
    cpu, memory = _dec(spec, "cpu", 1), _dec(spec, "memory_gib", "0.5")
    least, most = int(spec.get("min_instances") or 0), int(spec["max_instances"])
    per_instance = _dec(spec, "concurrency", 80)
    request_s = _dec(spec, "request_ms", 200) / 1000
    rps = _range(spec, "expected_rps", 0)
    hours = _range(spec, "active_hours_per_day", 24)
    billing = spec.get("billing") or "instance"
    running, busy, idle, requests, explained = [], [], [], [], []
    for end in (LOW, HIGH):
        active = hours[end] * 3600 * DAYS
        concurrent = rps[end] * request_s
        needed = math.ceil(concurrent / per_instance) if concurrent else 0
        serving = max(needed, least, 1 if concurrent else 0)
        serving = min(serving, most)
        running.append(serving * active + least * (SECONDS - active))
        busy_now = min(Decimal(most), max(concurrent / per_instance, min(concurrent, Decimal(1))))
        busy.append(busy_now * active)
        idle.append(max(Decimal(0), least * SECONDS - min(Decimal(least), busy_now) * active))
        requests.append(rps[end] * active)
        explained.append(
            f"{number(rps[end], 2)} req/s × {number(request_s, 3)} s = "
            f"{number(concurrent, 2)} concurrent for {number(hours[end], 1)} h/day"
        )
    return RunUsage(
        service,
        billing,
        cpu,
        memory,
        tuple(running),
        tuple(busy),
        tuple(idle),
        tuple(requests),
        tuple(explained),
    )


class FreeTier:
    """The billing account's monthly free usage of request-based Cloud Run, applied once
    to the total of every service (every environment) and shared by usage."""

    def __init__(self, usages: list[RunUsage]):
        self.totals: dict[str, list[Decimal]] = {}
        for usage in usages:
            if usage.billing != "request":
                continue
            for key, quantity in self._quantities(usage).items():
                sums = self.totals.setdefault(key, [Decimal(0), Decimal(0)])
                sums[LOW] += quantity[LOW]
                sums[HIGH] += quantity[HIGH]
        self.services = sum(1 for u in usages if u.billing == "request")

    @staticmethod
    def _quantities(usage: RunUsage) -> dict[str, tuple[Decimal, Decimal]]:
        return {
            "run.cpu.request": tuple(s * usage.cpu for s in usage.busy_seconds),
            "run.mem.request": tuple(s * usage.memory for s in usage.busy_seconds),
            "run.requests": usage.requests,
        }

    def line(self, price: Price, usage: RunUsage, what: str) -> Line:
        """This service's share of the account's tiered cost of `price`'s SKU."""
        mine = self._quantities(usage)[price.key]
        total = self.totals.get(price.key, [Decimal(0), Decimal(0)])
        costs = []
        for end in (LOW, HIGH):
            whole = price.cost(total[end])
            costs.append(whole * mine[end] / total[end] if total[end] else Decimal(0))
        text = (
            f"{price.description} [{price.sku_id}]: {what} = {_both(*mine)} {price.usage_unit} × "
            f"{number(price.unit_price)} / {price.usage_unit}"
        )
        if price.free_amount:
            text += (
                f"; the account's free {number(price.free_amount, 0)} {price.usage_unit} a month "
                f"applied once to the {_both(*total)} of its {self.services} request-based "
                "service(s), shared by usage"
            )
        return Line(text + f" = {_both_money(*costs)}", costs[LOW], costs[HIGH])


def cloud_run(usage: RunUsage, snapshot: Snapshot, region: str, free: FreeTier) -> list[Line]:
    lines = [
        Line(
            f"load: {usage.explained[LOW]} (low); {usage.explained[HIGH]} (high)",
            Decimal(0),
            Decimal(0),
        )
    ]
    if usage.billing == "instance":
        cpu = _need(snapshot, region, "run.cpu.instance", "Cloud Run instance-based CPU")
        mem = _need(snapshot, region, "run.mem.instance", "Cloud Run instance-based memory")
        seconds = usage.instance_seconds
        lines.append(
            _priced(
                cpu,
                tuple(s * usage.cpu for s in seconds),
                f"{number(usage.cpu, 2)} vCPU × {_both(*seconds)} instance-seconds",
            )
        )
        lines.append(
            _priced(
                mem,
                tuple(s * usage.memory for s in seconds),
                f"{number(usage.memory, 2)} GiB × {_both(*seconds)} instance-seconds",
            )
        )
        return lines
    busy = usage.busy_seconds
    for key, size, what in (
        ("run.cpu.request", usage.cpu, "vCPU"),
        ("run.mem.request", usage.memory, "GiB"),
    ):
        price = _need(snapshot, region, key, f"Cloud Run request-based {what}")
        lines.append(
            free.line(price, usage, f"{number(size, 2)} {what} × {_both(*busy)} busy seconds")
        )
    fee = _need(snapshot, region, "run.requests", "Cloud Run requests")
    lines.append(free.line(fee, usage, "requests"))
    if any(usage.idle_seconds):
        for key, size, what in (
            ("run.idle_cpu", usage.cpu, "vCPU"),
            ("run.idle_mem", usage.memory, "GiB"),
        ):
            price = _need(snapshot, region, key, f"Cloud Run idle min-instance {what}")
            lines.append(
                _priced(
                    price,
                    tuple(s * size for s in usage.idle_seconds),
                    f"{number(size, 2)} {what} × {_both(*usage.idle_seconds)} idle "
                    "min-instance seconds",
                )
            )
    return lines


# --- Compute Engine --------------------------------------------------------------------


def machine_shape(machine_type: str) -> tuple[str, Decimal, Decimal]:
    """(family, vCPU, GiB) of a machine type such as n2-standard-4 or e2-micro."""
    if machine_type in SHARED_CORE:
        return ("e2", *SHARED_CORE[machine_type])
    family, shape, count = machine_type.split("-")
    per_vcpu = MEMORY_PER_VCPU.get(family, MEMORY_PER_VCPU["default"])[shape]
    return family, Decimal(count), Decimal(count) * per_vcpu


def sud_factor(family: str) -> tuple[Decimal, str]:
    quarters = SUD_QUARTERS.get(family)
    if quarters is None:
        return Decimal(1), f"{family.upper()}: no sustained-use discount"
    factor = sum(quarters) / 4
    rates = ", ".join(f"{(q * 100).normalize():f}%" for q in quarters)
    return factor, (
        f"sustained-use discount ({family.upper()}, running all 730 h): the month's quarters "
        f"at {rates} of the price → × {number(factor, 4)}"
    )


def _commitments(env: Environment, service: Service, kind: str) -> list[dict]:
    return [
        c
        for c in env.commitments
        if c["type"] == kind and (not c.get("services") or service.name in c["services"])
    ]


def vm_lines(
    snapshot: Snapshot,
    region: str,
    env: Environment,
    service: Service,
    machine_type: str,
    count: tuple[Decimal, Decimal] = (Decimal(1), Decimal(1)),
    label: str = "",
) -> list[Line]:
    family, vcpus, gib = machine_shape(machine_type)
    core = _need(snapshot, region, f"gce.core.{family}", f"{family.upper()} cores")
    ram = _need(snapshot, region, f"gce.ram.{family}", f"{family.upper()} memory")
    factor, sud_text = sud_factor(family)
    covered = sum((Decimal(c["share"]) for c in _commitments(env, service, "resource")), Decimal(0))
    covered = min(covered, Decimal(1))
    lines = []
    what = f"{label}{machine_type} ({number(vcpus, 2)} vCPU, {number(gib, 2)} GiB)"
    on_demand = 1 - covered
    for price, size, unit in ((core, vcpus, "vCPU"), (ram, gib, "GiB")) if on_demand else ():
        hours = tuple(n * size * HOURS * on_demand for n in count)
        line = _priced(
            price,
            hours,
            f"{what}: {_both(*count)} × {number(size, 2)} {unit} × 730 h"
            + (f" × {number(on_demand, 4)} not committed" if covered else ""),
            places=1,
        )
        lines.append(line)
        if factor != 1:
            lines.append(
                _with_amount(
                    f"{sud_text} on {price.description}",
                    line.low * (factor - 1),
                    line.high * (factor - 1),
                )
            )
    for commitment in _commitments(env, service, "resource"):
        term, share = commitment["term"], Decimal(commitment["share"])
        for part, size, unit in (("core", vcpus, "vCPU"), ("ram", gib, "GiB")):
            key = f"gce.cud.{part}.{family}.{term}"
            price = _need(snapshot, region, key, f"{family.upper()} {unit} {term} commitment")
            hours = tuple(n * size * HOURS * share for n in count)
            lines.append(
                _priced(
                    price,
                    hours,
                    f"{term} resource commitment on {number(share * 100, 0)}% of {what}: "
                    f"{_both(*count)} × {number(size, 2)} {unit} × 730 h × {number(share, 4)}",
                    places=1,
                )
            )
    return lines


def _spend_commitment(env: Environment, service: Service, lines: list[Line]) -> list[Line]:
    out = []
    rates = SPEND_DISCOUNT.get(service.kind)
    for commitment in _commitments(env, service, "spend") if rates else []:
        rate, share = rates[commitment["term"]], Decimal(commitment["share"])
        low = sum((line.low for line in lines), Decimal(0))
        high = sum((line.high for line in lines), Decimal(0))
        out.append(
            _with_amount(
                f"{commitment['term']} spend-based commitment: {number(share * 100, 0)}% of "
                f"{_both_money(low, high)} at Google's {number(rate * 100, 0)}% off",
                -low * share * rate,
                -high * share * rate,
            )
        )
    return out


def _tiered(snapshot, region, key, what, quantity: Decimal, label: str) -> list[Line]:
    if not quantity:
        return []
    price = _need(snapshot, region, key, what)
    return [_priced(price, (quantity, quantity), label)]


def gce_vm(snapshot: Snapshot, region: str, env: Environment, service: Service) -> list[Line]:
    spec = service.spec
    lines = vm_lines(snapshot, region, env, service, spec.get("machine_type", ""))
    disk = _dec(spec, "disk_gb", 10)
    lines += _tiered(
        snapshot,
        region,
        "gce.disk.pd_balanced",
        "balanced persistent disk",
        disk,
        f"boot disk {number(disk, 0)} GiB for the month",
    )
    egress = _dec(spec, "egress_gib_month", 0)
    lines += _tiered(
        snapshot,
        region,
        "net.egress",
        "internet egress",
        egress,
        f"internet egress {number(egress, 0)} GiB a month",
    )
    return lines


def vpc_connector(snapshot: Snapshot, region: str, env: Environment, service: Service):
    spec = service.spec
    low = Decimal(spec.get("min_instances") or 2)
    high = Decimal(spec.get("max_instances") or 10)
    machine = spec.get("machine_type") or "e2-micro"
    return vm_lines(snapshot, region, env, service, machine, (low, high), "connector instances ")


# --- managed services ------------------------------------------------------------------


def sql_shape(tier: str) -> tuple[Decimal, Decimal]:
    """(vCPU, GiB) of a Cloud SQL tier: db-n1-standard-N, db-n1-highmem-N, db-custom-N-MB."""
    parts = tier.split("-")
    if parts[1] == "custom":
        return Decimal(parts[2]), Decimal(parts[3]) / 1024
    vcpus = Decimal(parts[3])
    return vcpus, vcpus * MEMORY_PER_VCPU["n1"][parts[2]]


def cloud_sql(snapshot: Snapshot, region: str, env: Environment, service: Service):
    spec = service.spec
    tier = spec.get("tier", "")
    vcpus, gib = sql_shape(tier)
    where = "regional" if spec.get("high_availability") else "zonal"
    ha = " (high availability: the regional price, twice the zonal)" if where == "regional" else ""
    lines = []
    for key, size, unit in ((f"sql.cpu.{where}", vcpus, "vCPU"), (f"sql.ram.{where}", gib, "GiB")):
        price = _need(snapshot, region, key, f"Cloud SQL {where} {unit}")
        hours = size * HOURS
        lines.append(
            _priced(price, (hours, hours), f"{tier}{ha}: {number(size, 2)} {unit} × 730 h", 1)
        )
    disk = _dec(spec, "disk_gb", 10)
    lines += _tiered(
        snapshot,
        region,
        f"sql.storage.{where}",
        f"Cloud SQL {where} storage",
        disk,
        f"storage {number(disk, 0)} GiB for the month",
    )
    return lines


def redis_band(gib: Decimal) -> int:
    for band, upto in ((1, 4), (2, 10), (3, 35), (4, 100)):
        if gib <= upto:
            return band
    return 5


def memorystore(snapshot: Snapshot, region: str, env: Environment, service: Service):
    spec = service.spec
    tier = spec.get("tier") or "basic"
    gib = _dec(spec, "memory_gib", 1)
    band = redis_band(gib)
    price = _need(snapshot, region, f"redis.{tier}.m{band}", f"Memorystore {tier} M{band}")
    hours = gib * HOURS
    label = f"{tier} tier, {number(gib, 0)} GiB (capacity band M{band}) × 730 h"
    return [_priced(price, (hours, hours), label)]


def static_site(snapshot: Snapshot, region: str, env: Environment, service: Service):
    spec = service.spec
    stored, egress = _dec(spec, "storage_gb", 1), _dec(spec, "egress_gib_month", 0)
    lines = _tiered(
        snapshot,
        region,
        "gcs.standard",
        "Cloud Storage standard",
        stored,
        f"{number(stored, 0)} GiB stored for the month",
    )
    lines += _tiered(
        snapshot,
        region,
        "cdn.egress",
        "Cloud CDN egress",
        egress,
        f"{number(egress, 0)} GiB served from the CDN a month",
    )
    return lines


PRICERS = {
    ServiceKind.GCE_VM: gce_vm,
    ServiceKind.VPC_CONNECTOR: vpc_connector,
    ServiceKind.CLOUD_SQL: cloud_sql,
    ServiceKind.MEMORYSTORE: memorystore,
    ServiceKind.STATIC_SITE: static_site,
}


# --- the platform ----------------------------------------------------------------------


def estimate_all(snapshot: Snapshot, overrides: dict | None = None) -> list[EnvironmentEstimate]:
    """Every environment's estimate (the free tier is the billing account's: it needs
    all of them). `overrides`: {service id: spec} priced instead of the stored spec (what
    a release would change)."""
    environments = list(Environment.objects.prefetch_related("services"))
    services = {env.pk: list(env.services.all()) for env in environments}
    if overrides:
        for env_services in services.values():
            for service in env_services:
                if service.pk in overrides:
                    service.spec = overrides[service.pk]
    runs = {
        s.pk: run_usage(s)
        for env_services in services.values()
        for s in env_services
        if s.kind == ServiceKind.CLOUD_RUN
    }
    free = FreeTier(list(runs.values()))
    out = []
    for env in environments:
        components = []
        for service in services[env.pk]:
            component = Component(service.name, service.kind)
            try:
                if service.kind == ServiceKind.CLOUD_RUN:
                    component.lines = cloud_run(runs[service.pk], snapshot, env.region, free)
                else:
                    component.lines = PRICERS[service.kind](snapshot, env.region, env, service)
                component.lines += _spend_commitment(env, service, component.lines)
            except MissingPrice as exc:
                component.lines, component.problem = [], str(exc)
            components.append(component)
        out.append(EnvironmentEstimate(env, components, snapshot))
    return out


def estimate_of(
    environment: Environment, snapshot: Snapshot, overrides: dict | None = None
) -> EnvironmentEstimate:
    """One environment's estimate (computed with all of them: the free tier is shared)."""
    return next(e for e in estimate_all(snapshot, overrides) if e.environment.pk == environment.pk)
