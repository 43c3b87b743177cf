"""An invoice month as the Costs page shows it: per environment the target, the actual
month-to-date, the forecast and a status; per component; credits by type; the daily
series; the 12-month trend; the drill-down. From the daily rollups only (a fixed number
of GROUP BY queries, whatever the history), money exact in nanos until it is shown.

Forecast: the export lags about a day and the newest usage day it holds is still filling
up, so only the days before the newest one seen count as complete. The forecast is the
net of the complete days plus their run rate (the mean of the last 7 complete days, or
of all of them when fewer) for each day of the month still to come. A closed month's
forecast is its actual.
"""

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Max, Min, Sum
from django.utils import timezone

from costs.attribution import NO_SERVICE
from costs.bq_rows import PACIFIC
from costs.models import CostDaily, CostTarget
from costs.money import from_nanos, in_cents, to_nanos
from costs.report import UNALLOCATED, is_month, not_a_month
from platform_admin.models import Environment

RUN_RATE_DAYS = 7
AT_RISK, OVER, ON_TRACK, NO_TARGET = "at risk", "over", "on track", "no target"


def month_bounds(month: str) -> tuple[date, date]:
    """The first and last calendar day of YYYY-MM."""
    year, number = int(month[:4]), int(month[5:])
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def today() -> date:
    """Today in US/Pacific, the day of Google's billing reports."""
    return timezone.now().astimezone(PACIFIC).date()


def open_months(day: date) -> list[str]:
    """The invoice months still changing on `day`: the current one, and the previous one
    until its 5th day (late usage and corrections land there)."""
    months = [f"{day:%Y-%m}"]
    if day.day <= 5:
        months.insert(0, f"{day.replace(day=1) - timedelta(days=1):%Y-%m}")
    return months


def previous_months(month: str, count: int) -> list[str]:
    """`count` months ending with `month`, oldest first."""
    year, number = int(month[:4]), int(month[5:])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{number:02d}")
        year, number = (year, number - 1) if number > 1 else (year - 1, 12)
    return out[::-1]


@dataclass
class Scope:
    """One environment (or unallocated) in the month."""

    slug: str
    name: str
    target: Decimal | None
    net_nanos: int = 0
    cost_nanos: int = 0
    credits_nanos: int = 0
    forecast_nanos: int = 0
    components: list[dict] = field(default_factory=list)
    estimate: tuple[Decimal, Decimal] | None = None  # costs.pages: the estimate range
    plan: tuple[Decimal, Decimal] | None = None  # the plan's stated total

    @property
    def net(self) -> Decimal:
        return from_nanos(self.net_nanos)

    @property
    def credits(self) -> Decimal:
        return from_nanos(self.credits_nanos)

    @property
    def forecast(self) -> Decimal:
        return from_nanos(self.forecast_nanos)

    @property
    def forecast_over(self) -> bool:
        """The forecast, as shown (in cents), above the target."""
        return self.target is not None and in_cents(self.forecast_nanos) > self.target

    @property
    def status(self) -> str:
        """Against the target, in the cents the page shows (300.004 of 300.00 is on track)."""
        if self.target is None:
            return NO_TARGET
        if in_cents(self.net_nanos) > self.target:
            return OVER
        return AT_RISK if self.forecast_over else ON_TRACK

    @property
    def used(self) -> float | None:
        """Actual as a share of the target."""
        return float(self.net / self.target) if self.target else None


@dataclass
class Month:
    month: str
    first: date
    last: date
    newest_day: date | None  # the newest usage day the data holds
    complete_through: date | None  # the last day counted complete
    closed: bool
    scopes: list[Scope]
    total: Scope
    credits_by_type: dict[str, Decimal]
    remaining_days: int

    @property
    def method(self) -> str:
        if self.closed:
            return "The month is closed: the forecast is the actual."
        if self.complete_through is None:
            return (
                "No complete day of the month in the data yet: the forecast is the actual so far."
            )
        return (
            f"Forecast = net of the complete days (through {self.complete_through:%b %d}) + "
            f"their run rate (mean of the last {RUN_RATE_DAYS} complete days of the month, "
            f"fewer early in the month) × "
            f"{self.remaining_days} days to come. The newest day in the data "
            f"({self.newest_day:%b %d}) is still filling up and does not count."
        )


def targets() -> dict[tuple[int, str], Decimal]:
    """{(environment id, component or ""): amount} of the targets finance set."""
    return {(t.environment_id, t.component): t.amount for t in CostTarget.objects.all()}


def month_figures(month: str, today: date) -> Month:
    """The month's figures (see the module docstring). Four queries."""
    if not is_month(month):
        raise ValueError(not_a_month(month))
    first, last = month_bounds(month)
    rows = CostDaily.objects.filter(invoice_month=month)
    span = rows.aggregate(newest=Max("usage_day"), oldest=Min("usage_day"))
    newest = span["newest"]
    closed = last < today
    complete_through = None
    if closed:
        complete_through = last
    elif newest is not None:
        complete_through = min(newest - timedelta(days=1), today - timedelta(days=1))
        if complete_through < first:
            complete_through = None  # not one complete day of the month yet
    per_day = (
        rows.values("environment", "usage_day")
        .annotate(net=Sum("net_nanos"))
        .order_by("environment", "usage_day")
    )
    per_component = (
        rows.values("environment", "component")
        .annotate(net=Sum("net_nanos"), cost=Sum("cost_nanos"), credits=Sum("credits_nanos"))
        .order_by()
    )
    set_targets = targets()
    envs = list(Environment.objects.all())
    scopes = {env.pk: _scope(env, set_targets) for env in envs}
    scopes[None] = Scope(UNALLOCATED, "Unallocated", None)
    days: dict[int | None, list[tuple[date, int]]] = {}
    for row in per_day:
        days.setdefault(row["environment"], []).append((row["usage_day"], row["net"] or 0))
    for row in per_component:
        scope = scopes.get(row["environment"])
        if scope is None:
            continue
        scope.net_nanos += row["net"] or 0
        scope.cost_nanos += row["cost"] or 0
        scope.credits_nanos += row["credits"] or 0
        scope.components.append(
            {"name": row["component"] or NO_SERVICE, "net_nanos": row["net"] or 0}
        )
    remaining = 0 if closed or complete_through is None else (last - complete_through).days
    for env_id, scope in scopes.items():
        scope.forecast_nanos = _forecast(
            days.get(env_id, []), scope.net_nanos, complete_through, remaining, closed
        )
        env_target_of = {
            component: amount
            for (target_env, component), amount in set_targets.items()
            if target_env == env_id and component
        }
        billed = {component["name"] for component in scope.components}
        scope.components += [  # a target set for a component with no cost yet this month
            {"name": name, "net_nanos": 0} for name in sorted(env_target_of) if name not in billed
        ]
        for component in scope.components:
            net = from_nanos(component["net_nanos"])
            component["net"] = net
            component["share"] = float(net / scope.net) if scope.net else None
            target = component["target"] = env_target_of.get(component["name"])
            component["over"] = target is not None and in_cents(component["net_nanos"]) > target
        scope.components.sort(key=lambda c: -c["net_nanos"])
    ordered = [scopes[env.pk] for env in envs] + [scopes[None]]
    total = Scope("total", "All environments", _sum_targets(ordered))
    for scope in ordered:
        total.net_nanos += scope.net_nanos
        total.cost_nanos += scope.cost_nanos
        total.credits_nanos += scope.credits_nanos
        total.forecast_nanos += scope.forecast_nanos
    return Month(
        month=month,
        first=first,
        last=last,
        newest_day=newest,
        complete_through=complete_through,
        closed=closed,
        scopes=ordered,
        total=total,
        credits_by_type=credits_by_type(rows),
        remaining_days=remaining,
    )


def _scope(env: Environment, set_targets) -> Scope:
    target = set_targets.get((env.pk, ""), env.monthly_target)
    return Scope(env.slug, env.name, Decimal(target) if target is not None else None)


def _sum_targets(scopes: list[Scope]) -> Decimal | None:
    known = [s.target for s in scopes if s.target is not None]
    return sum(known, Decimal(0)) if known else None


def _forecast(days, net_nanos: int, through: date | None, remaining: int, closed: bool) -> int:
    """Net of the complete days (late usage of earlier days included) + the mean of the
    last RUN_RATE_DAYS complete days of the month × the days to come; never below the
    actual so far."""
    if closed or through is None:
        return net_nanos
    done = sum(net for day, net in days if day <= through)
    window_start = through - timedelta(days=RUN_RATE_DAYS - 1)
    month_start = through.replace(day=1)
    first = max(window_start, month_start)
    recent = sum(net for day, net in days if first <= day <= through)
    counted = (through - first).days + 1
    rate = Decimal(recent) / counted
    return max(done + int(rate * remaining), net_nanos)


def credits_by_type(rows) -> dict[str, Decimal]:
    """Credits summed per type over the rows (the JSON of each bucket, added exactly)."""
    out: dict[str, int] = {}
    for by_type in rows.exclude(credits_by_type={}).values_list("credits_by_type", flat=True):
        for kind, amount in (by_type or {}).items():
            out[kind] = out.get(kind, 0) + to_nanos(Decimal(amount))
    return {kind: from_nanos(n) for kind, n in sorted(out.items(), key=lambda kv: kv[1])}


def scoped(month: str, scope: str = ""):
    """The month's rows of the environment `scope` (a slug, or "unallocated"), or all
    ("")."""
    rows = CostDaily.objects.filter(invoice_month=month)
    if scope == UNALLOCATED:
        return rows.filter(environment=None)
    return rows.filter(environment__slug=scope) if scope else rows


def daily(month: str, scope: str = "") -> list[tuple[date, Decimal]]:
    """Net per usage day of the month's rows in `scope` (see `scoped`). One query."""
    per_day = (
        scoped(month, scope)
        .values("usage_day")
        .annotate(net=Sum("net_nanos"))
        .order_by("usage_day")
    )
    return [(row["usage_day"], from_nanos(row["net"] or 0)) for row in per_day]


def trend(month: str, count: int = 12) -> tuple[list[str], dict[str, dict[str, Decimal]]]:
    """The `count` months ending with `month` and each scope's net in them: one query."""
    months = previous_months(month, count)
    slugs = dict(Environment.objects.values_list("pk", "slug"))
    per = (
        CostDaily.objects.filter(invoice_month__in=months)
        .values("environment", "invoice_month")
        .annotate(net=Sum("net_nanos"))
        .order_by()
    )
    out: dict[str, dict[str, Decimal]] = {}
    for row in per:
        slug = slugs.get(row["environment"], UNALLOCATED)
        out.setdefault(slug, {})[row["invoice_month"]] = from_nanos(row["net"] or 0)
    return months, out


LEVELS = ("component", "service_description", "sku_description")


DRILL_ITEMS = 100  # lines a drill-down level shows, the last one "N more" when there are more


def drill(month: str, environment: Environment | None, path: list[str]) -> list[dict]:
    """The next level down from environment → component → GCP service → SKU: each item's
    net and share of the level. `environment` None = unallocated. One query."""
    rows = CostDaily.objects.filter(invoice_month=month, environment=environment)
    for level, value in zip(LEVELS, path, strict=False):
        # Components are stored by name ("(none)" included); an absent service or SKU blank.
        stored = "" if value == NO_SERVICE and level != "component" else value
        rows = rows.filter(**{level: stored})
    level = LEVELS[min(len(path), len(LEVELS) - 1)]
    per = rows.values(level).annotate(net=Sum("net_nanos"), cost=Sum("cost_nanos")).order_by()
    items = [
        {
            "name": row[level] or NO_SERVICE,
            "net": from_nanos(row["net"] or 0),
            "cost": from_nanos(row["cost"] or 0),
        }
        for row in per
    ]
    total = sum((i["net"] for i in items), Decimal(0))
    items.sort(key=lambda i: -i["net"])
    if len(items) > DRILL_ITEMS:  # a level of thousands of SKUs: the largest, then the rest
        rest = items[DRILL_ITEMS - 1 :]
        items = items[: DRILL_ITEMS - 1] + [
            {
                "name": f"{len(rest):,} more",
                "net": sum((i["net"] for i in rest), Decimal(0)),
                "cost": sum((i["cost"] for i in rest), Decimal(0)),
                "more": True,
            }
        ]
    for item in items:
        item["share"] = float(item["net"] / total) if total else None
    return items
