"""What each environment of the platform uses in one day, in catalog pricing units.

The model is deliberately simple and documented in README.md: Cloud Run is billed
request-based (active share of the day at full price, the rest of the min-instances at
the idle price), VMs, Cloud SQL and Memorystore run all day, storage is prorated.
"""

from dataclasses import dataclass, field

from . import det

MACHINES = {  # machine type -> (vCPUs, GiB RAM, SKU family)
    "n2-standard-2": (2, 8, "n2"),
    "n2-standard-4": (4, 16, "n2"),
    "n2-standard-8": (8, 32, "n2"),
    "e2-micro": (0.25, 1, "e2"),
    "e2-small": (0.5, 2, "e2"),
    "e2-medium": (1, 4, "e2"),
    "e2-standard-2": (2, 8, "e2"),
    "e2-standard-4": (4, 16, "e2"),
}
DAY_S = 86400
ACTIVE_FRACTION = 0.25  # share of the day a Cloud Run service is handling requests
BILLING_RPS = 20.0  # requests per second while active (matches the sandbox's default --rps)


@dataclass
class Usage:
    sku: str  # catalog key
    amount: float  # in the SKU's pricing unit
    component: str  # the platform service it belongs to
    zone: str | None = None
    system_labels: dict = field(default_factory=dict)
    global_location: bool = False


def day_usage(env, day_key: str) -> list[Usage]:
    """All usage of `env` on the day `day_key` (YYYY-MM-DD), deterministic."""
    out: list[Usage] = []
    for spec in env.services:
        wobble = det.jitter(0.12, "usage", env.project, spec.name, day_key)
        maker = MAKERS.get(spec.kind)
        if maker is not None:  # unknown kinds cost nothing here
            out += maker(spec, wobble)
    if env.of_kind("cloud_run"):
        out += _vpc_connector()
    return out


def _cloud_run(spec, wobble: float) -> list[Usage]:
    cpu = spec.number("cpu", default=1)
    mem = spec.number("memory_gib", "memory_gb", default=0.5)
    min_inst = spec.number("min_instances", default=0)
    active = DAY_S * spec.number("active_fraction", default=ACTIVE_FRACTION) * wobble
    active_inst = active * max(1.0, min_inst)
    idle_inst = (DAY_S - active) * min_inst
    requests = active * spec.number("billing_rps", default=BILLING_RPS)
    n = spec.name
    return [
        Usage("run.cpu", active_inst * cpu, n),
        Usage("run.mem", active_inst * mem, n),
        Usage("run.idle_cpu", idle_inst * cpu, n),
        Usage("run.idle_mem", idle_inst * mem, n),
        Usage("run.requests", round(requests), n),
    ]


def _vm(spec, wobble: float) -> list[Usage]:
    machine = spec.get("machine_type", "n2-standard-4")
    cores, ram, family = MACHINES.get(machine, MACHINES["n2-standard-4"])
    zone = spec.get("zone", "us-central1-a")
    labels = {
        "compute.googleapis.com/machine_spec": machine,
        "compute.googleapis.com/cores": str(cores),
        "compute.googleapis.com/memory": str(int(ram * 1024)),
    }
    egress = spec.number("egress_gib_month", default=100) / 30 * wobble
    return [
        Usage(f"gce.{family}_core", cores * 24, spec.name, zone, labels),
        Usage(f"gce.{family}_ram", ram * 24, spec.name, zone, labels),
        Usage("gce.pd_balanced", spec.number("disk_gb", default=50) * 24 / 730, spec.name, zone),
        Usage("net.egress", egress, spec.name),
    ]


def _vpc_connector() -> list[Usage]:
    # Serverless VPC Access: billed as its two e2-micro VMs.
    return [
        Usage("gce.e2_core", 2 * 0.25 * 24, "vpc-connector", "us-central1-a"),
        Usage("gce.e2_ram", 2 * 1 * 24, "vpc-connector", "us-central1-a"),
    ]


def _cloud_sql(spec, wobble: float) -> list[Usage]:
    cpu, ram = _sql_shape(str(spec.get("tier", "db-n1-standard-1")))
    cpu = spec.number("cpu", default=cpu)
    ram = spec.number("memory_gb", "memory_gib", default=ram)
    ha = "_ha" if spec.get("high_availability", spec.get("ha", False)) else ""
    disk = spec.number("disk_gb", default=10)
    return [
        Usage(f"sql.cpu{ha}", cpu * 24, spec.name),
        Usage(f"sql.ram{ha}", ram * 24, spec.name),
        Usage("sql.storage", disk * 24 / 730 * (2 if ha else 1), spec.name),
    ]


def _sql_shape(tier: str) -> tuple[float, float]:
    """vCPUs and GB of a Cloud SQL tier such as db-n1-standard-2 or db-custom-2-7680."""
    parts = tier.split("-")
    try:
        if parts[1] == "custom":
            return float(parts[2]), float(parts[3]) / 1024
        return float(parts[-1]), float(parts[-1]) * 3.75
    except (IndexError, ValueError):
        return 1.0, 3.75


def _memorystore(spec, wobble: float) -> list[Usage]:
    tier = "standard" if str(spec.get("tier", "basic")).lower().startswith("standard") else "basic"
    size = spec.number("memory_gb", "capacity_gb", "memory_gib", default=1)
    return [Usage(f"redis.{tier}", size * 24, spec.name)]


def _static_site(spec, wobble: float) -> list[Usage]:
    storage = spec.number("storage_gb", "storage_gib", default=10)
    egress = spec.number("egress_gib_month", "cdn_egress_gib_month", default=50) / 30 * wobble
    return [
        Usage("gcs.standard", storage * 24 / 730, spec.name),
        Usage("cdn.egress", egress, spec.name, global_location=True),
    ]


MAKERS = {
    "cloud_run": _cloud_run,
    "gce_vm": _vm,
    "cloud_sql": _cloud_sql,
    "memorystore": _memorystore,
    "static_site": _static_site,
}
