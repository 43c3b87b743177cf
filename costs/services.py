"""What other apps ask of costs, and the alert checks' entry point.

`budget_status(environment)` is the one function `deployments` calls (the budget gate);
`check_alerts` runs the budget alerts (`costs.alerts`) and the anomaly check
(`costs.anomalies`) for the jobs, the importers and `manage.py check_cost_alerts`.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from costs import alerts, anomalies
from costs import month as figures
from costs.models import CostAlert
from costs.money import from_nanos, shown
from platform_admin.models import Environment, PlatformSettings, ServiceKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BudgetStatus:
    """An environment's current invoice month against its target, as the Costs page
    shows it. `over`: the forecast is over the target; `blocks`: the environment also
    asks (`block_when_over_budget`) that a rollout then needs an approver's override."""

    month: str
    target: Decimal | None
    actual: Decimal
    forecast: Decimal
    currency: str
    over: bool
    blocks: bool

    @property
    def message(self) -> str:
        if not self.over:
            return ""
        return (
            f"the forecast {shown(self.forecast, self.currency)} is over the target "
            f"{shown(self.target, self.currency)} for this month ({self.month})"
        )


def budget_status(environment: Environment, today: date | None = None) -> BudgetStatus:
    """The environment's forecast of the current invoice month against its target."""
    today = today or figures.today()
    month = f"{today:%Y-%m}"
    scopes = figures.month_figures(month, today).scopes
    scope = next(s for s in scopes if s.slug == environment.slug)
    over = scope.forecast_over
    return BudgetStatus(
        month=month,
        target=scope.target,
        actual=scope.net,
        forecast=scope.forecast,
        currency=PlatformSettings.load().currency,
        over=over,
        blocks=over and environment.block_when_over_budget,
    )


def check_alerts(months: list[str] | None = None, today: date | None = None) -> list[CostAlert]:
    """Budget and anomaly alerts of `months` (default: the open invoice months); returns
    the alerts fired now (each crossing and anomaly fires once, whatever the reruns)."""
    today = today or figures.today()
    new = []
    for month in months or figures.open_months(today):
        new += alerts.check_budgets(month, today)
        new += anomalies.check_anomalies(month, today)
    return new


def check_after_import(months) -> list[CostAlert]:
    """The check after a successful import or pull, of the months it touched that are
    still open (an old month's history imported late alerts nobody). A crash here is
    logged, never turned into a failed import: the daily check runs again."""
    today = figures.today()
    touched = set(months)
    still_open = [m for m in figures.open_months(today) if m in touched]
    if not still_open:
        return []
    try:
        return check_alerts(still_open, today)
    except Exception:
        log.exception("cost alerts of %s not checked; the daily check will", still_open)
        return []


def month_alerts(month: str) -> list[CostAlert]:
    """The invoice month's alerts, newest first (the Costs page's list)."""
    return list(CostAlert.objects.filter(invoice_month=month).select_related("environment"))


# --- what a release will cost ----------------------------------------------------------

RESOURCE_WORDS = {
    "cpu": ("cpu", "vCPU"),
    "memory_gib": ("memory", "GiB"),
    "min_instances": ("min instances", ""),
    "max_instances": ("max instances", ""),
    "concurrency": ("concurrency", ""),
}


@dataclass(frozen=True)
class CostDelta:
    """The monthly estimate with a release's resources minus the estimate with what runs
    now, low and high, and the changes that make it, in words."""

    low: Decimal
    high: Decimal
    changes: tuple[str, ...]
    currency: str
    snapshot_taken_at: object

    @property
    def words(self) -> str:
        """ "+$41.00–$58.00 / month: agent memory 2 → 4 GiB"."""
        low, high = sorted((self.low, self.high))

        def signed(value: Decimal) -> str:
            return ("+" if value >= 0 else "−") + shown(abs(value), self.currency)

        if shown(low, self.currency) == shown(high, self.currency):
            amount = signed(low)
        elif low >= 0:
            amount = f"+{shown(low, self.currency)}–{shown(high, self.currency)}"
        elif high <= 0:
            amount = f"−{shown(-high, self.currency)}–{shown(-low, self.currency)}"
        else:
            amount = f"{signed(low)} to {signed(high)}"
        return f"{amount} / month: {'; '.join(self.changes)}"


def _plain(value) -> str:
    """A size as written in words: 4, 0.5 (never 4.0 or 5E-1)."""
    return format(Decimal(str(value)).normalize(), "f")


def release_cost_delta(
    environment: Environment, current: dict[str, dict], new: dict[str, dict]
) -> CostDelta | None:
    """What deploying resources `new` ({service: {"memory_gib": "4", ...}}) over what runs
    now (`current`: the resources the live release set, {} where none) does to the
    environment's monthly estimate. None when nothing changes or no price snapshot."""
    from costs import prices
    from costs.estimate import estimate_of

    snapshot = prices.latest()
    if snapshot is None or not new:
        return None
    services = {s.name: s for s in environment.services.all()}
    now, after, changes = {}, {}, []
    for name, wanted in sorted(new.items()):
        service = services.get(name)
        if service is None:
            continue
        spec_now = {**service.spec, **current.get(name, {})}
        spec_new = {**spec_now, **wanted}
        now[service.pk], after[service.pk] = spec_now, spec_new
        for key, (label, unit) in RESOURCE_WORDS.items():
            if key not in wanted:
                continue
            before = "default" if spec_now.get(key) is None else _plain(spec_now[key])
            if before != _plain(wanted[key]):
                words = f"{name} {label} {before} → {_plain(wanted[key])}"
                changes.append(f"{words} {unit}" if unit else words)
    if not changes:
        return None

    before, later = (
        estimate_of(environment, snapshot, now),
        estimate_of(environment, snapshot, after),
    )
    return CostDelta(
        low=later.low - before.low,
        high=later.high - before.high,
        changes=tuple(changes),
        currency=snapshot.currency,
        snapshot_taken_at=snapshot.record.taken_at,
    )


# --- what a revision costs to run -------------------------------------------------------


def instance_second_prices(
    environment: Environment, resources: dict[str, dict] | None = None
) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Per Cloud Run service of the environment, the list price of one second of an
    instance: (with the release's `resources` over its spec, with its spec alone). An
    instance-second is its vCPU × the CPU price + its GiB × the memory price, of its
    billing (instance- or request-based). (None, None) without a price snapshot. One read
    of the snapshot and of the services for all of them."""
    from costs import prices
    from costs.estimate import CLOUD_RUN_DEFAULTS

    snapshot = prices.latest()
    rows = environment.services.filter(kind=ServiceKind.CLOUD_RUN)

    def price(spec: dict) -> Decimal | None:
        spec = {**CLOUD_RUN_DEFAULTS, **spec}
        billing = spec.get("billing") or "instance"
        cpu = snapshot.price(environment.region, f"run.cpu.{billing}")
        memory = snapshot.price(environment.region, f"run.mem.{billing}")
        if cpu is None or memory is None:
            return None
        return (
            Decimal(str(spec["cpu"])) * cpu.unit_price
            + Decimal(str(spec["memory_gib"])) * memory.unit_price
        )

    if snapshot is None:
        return {row.name: (None, None) for row in rows}
    wanted = resources or {}
    return {
        row.name: (price({**row.spec, **wanted.get(row.name, {})}), price(row.spec)) for row in rows
    }


# --- after a release went live ----------------------------------------------------------

WINDOW_DAYS = 7


@dataclass(frozen=True)
class LiveCost:
    """An environment's cost per day in the week before and the week after a release
    went live (usage days, US/Pacific, from the daily rollups; a day counts once the
    export holds the day after it), and the month it went live: estimate and actual."""

    environment: Environment
    live_day: date
    before: Decimal | None  # mean net per day, None when no day of the window is in
    before_days: int
    after: Decimal | None
    after_days: int
    month: str
    month_net: Decimal
    month_forecast: Decimal
    month_closed: bool
    estimate: tuple[Decimal, Decimal] | None
    currency: str

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None or not self.before:
            return None
        return float((self.after - self.before) / self.before)


def release_live_costs(environment: Environment, live_at, today: date | None = None) -> LiveCost:
    """What the environment cost around `live_at` (an aware datetime), see LiveCost."""
    from django.db.models import Max, Sum

    from costs import prices
    from costs.bq_rows import PACIFIC
    from costs.estimate import estimate_of
    from costs.models import CostDaily

    today = today or figures.today()
    day = live_at.astimezone(PACIFIC).date()
    rows = CostDaily.objects.filter(environment=environment)
    newest = rows.aggregate(newest=Max("usage_day"))["newest"]
    complete = (
        None if newest is None else min(newest - timedelta(days=1), today - timedelta(days=1))
    )
    start, end = day - timedelta(days=WINDOW_DAYS), day + timedelta(days=WINDOW_DAYS)
    per_day = dict(
        rows.filter(usage_day__gte=start, usage_day__lte=end)
        .values("usage_day")
        .annotate(net=Sum("net_nanos"))
        .values_list("usage_day", "net")
    )

    def mean(days: list[date]) -> tuple[Decimal | None, int]:
        counted = [d for d in days if complete is not None and d <= complete and d in per_day]
        if not counted:
            return None, 0
        return from_nanos(sum(per_day[d] for d in counted)) / len(counted), len(counted)

    before = mean([day - timedelta(days=i) for i in range(1, WINDOW_DAYS + 1)])
    after = mean([day + timedelta(days=i) for i in range(1, WINDOW_DAYS + 1)])
    month = f"{day:%Y-%m}"
    m = figures.month_figures(month, today)
    scope = next((s for s in m.scopes if s.slug == environment.slug), None)
    snapshot = prices.latest()
    estimate = None
    if snapshot is not None:
        est = estimate_of(environment, snapshot)
        estimate = (est.low, est.high)
    return LiveCost(
        environment=environment,
        live_day=day,
        before=before[0],
        before_days=before[1],
        after=after[0],
        after_days=after[1],
        month=month,
        month_net=scope.net if scope else Decimal(0),
        month_forecast=scope.forecast if scope else Decimal(0),
        month_closed=m.closed,
        estimate=estimate,
        currency=PlatformSettings.load().currency,
    )
