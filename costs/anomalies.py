"""The daily anomaly check: a component (environment × component of the rollups) whose
net cost on a complete day is more than twice its trailing 14-day median and more than
settings.COST_ANOMALY_FLOOR gets one alert for that day, naming the SKU that moved most
(the largest increase against its own 14-day median). Once per component per day.

The trailing window holds the 14 days before the day that the data covers (a day with
no rows at all, before the first import, is not a day of zero cost); a component absent
on a covered day cost 0 that day. Fewer than MIN_HISTORY_DAYS covered days judge nothing.
"""

import statistics
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from costs import month as figures
from costs.alerts import fire, page_url
from costs.attribution import NO_SERVICE
from costs.models import AlertKind, CostAlert, CostDaily
from costs.money import from_nanos, shown, to_nanos
from platform_admin.models import Environment, PlatformSettings

WINDOW_DAYS = 14
MIN_HISTORY_DAYS = 7
FACTOR = 2
# The newest complete days looked at in each check: a missed daily run or a day whose
# late usage arrived with the next export is still judged.
CHECKED_DAYS = 3


def check_anomalies(month: str, today: date) -> list[CostAlert]:
    """Fire the anomalies of the month's newest complete days not fired yet."""
    m = figures.month_figures(month, today)
    if m.complete_through is None:
        return []
    days = [m.complete_through - timedelta(days=n) for n in range(CHECKED_DAYS)]
    days = [d for d in days if d >= m.first]
    start = min(days) - timedelta(days=WINDOW_DAYS)
    rows = (
        CostDaily.objects.filter(
            usage_day__range=(start, m.complete_through), environment__isnull=False
        )
        .values("environment", "component", "sku_description", "usage_day")
        .annotate(net=Sum("net_nanos"))
        .order_by()
    )
    by_sku: dict[tuple, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    covered: set[date] = set(
        CostDaily.objects.filter(usage_day__range=(start, m.complete_through))
        .values_list("usage_day", flat=True)
        .distinct()
    )
    for row in rows:
        key = (row["environment"], row["component"], row["sku_description"] or NO_SERVICE)
        by_sku[key][row["usage_day"]] += row["net"] or 0
    done = set(
        CostAlert.objects.filter(kind=AlertKind.ANOMALY, day__in=days).values_list(
            "environment_id", "component", "day"
        )
    )
    environments = {env.pk: env for env in Environment.objects.all()}
    currency = PlatformSettings.load().currency
    new = []
    for day in days:
        for (env_id, component), skus in _components(by_sku).items():
            if (env_id, component, day) in done:
                continue
            found = judge(day, skus, covered)
            if found is not None:
                env = environments[env_id]
                new += _fire(env, month, component, day, found, currency)
    return new


def _components(by_sku) -> dict[tuple, dict[str, dict[date, int]]]:
    out: dict[tuple, dict[str, dict[date, int]]] = defaultdict(dict)
    for (env_id, component, sku), per_day in by_sku.items():
        out[(env_id, component)][sku] = per_day
    return out


def _median(per_day: dict[date, int], history: list[date]) -> Decimal:
    return statistics.median(from_nanos(per_day.get(d, 0)) for d in history)


def judge(day: date, skus: dict[str, dict[date, int]], covered: set[date]) -> dict | None:
    """The anomaly of one component on `day` ({"cost", "median", "sku", ...}), or None."""
    history = [day - timedelta(days=n) for n in range(1, WINDOW_DAYS + 1)]
    history = [d for d in history if d in covered]
    if len(history) < MIN_HISTORY_DAYS:
        return None
    total: dict[date, int] = defaultdict(int)
    for per_day in skus.values():
        for d, nanos in per_day.items():
            total[d] += nanos
    cost, median = from_nanos(total.get(day, 0)), _median(total, history)
    if not (cost > FACTOR * median and cost > settings.COST_ANOMALY_FLOOR):
        return None
    moves = {
        sku: (from_nanos(per_day.get(day, 0)), _median(per_day, history))
        for sku, per_day in skus.items()
    }
    sku, (sku_cost, sku_median) = max(moves.items(), key=lambda kv: (kv[1][0] - kv[1][1], kv[0]))
    return {
        "cost": cost,
        "median": median,
        "sku": sku,
        "sku_cost": sku_cost,
        "sku_median": sku_median,
        "history_days": len(history),
    }


def _fire(env, month, component, day, found, currency) -> list[CostAlert]:
    times = f"{found['cost'] / found['median']:.1f}× " if found["median"] else ""
    message = (
        f"📈 {env.slug}/{component}: {shown(found['cost'], currency)} on {day:%Y-%m-%d}, "
        f"{times}its {WINDOW_DAYS}-day median of {shown(found['median'], currency)}. "
        f"Moved most: {found['sku']}, {shown(found['sku_cost'], currency)} against its median "
        f"of {shown(found['sku_median'], currency)}. {page_url(month, env)}"
    )
    detail = {k: str(v) if isinstance(v, Decimal) else v for k, v in found.items()}
    alert = CostAlert(
        kind=AlertKind.ANOMALY,
        invoice_month=month,
        component=component,
        day=day,
        amount_nanos=to_nanos(found["cost"]),
        detail={**detail, "currency": currency},
    )
    return fire(env, [alert], message)
