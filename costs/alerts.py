"""Budget alerts: an environment's actual month to date or its forecast reaching 50 %,
90 % and 100 % of its target (the target the Costs page shows), told to its Slack
channel and the audit trail once per crossing per invoice month. A new month starts
fresh. The figures are `costs.month`'s, the forecast from complete days only.

`costs.services.check_alerts` runs these and the anomaly check (`costs.anomalies`) after
every successful import or pull, daily (settings.PERIODIC_JOBS) and from
`manage.py check_cost_alerts`.
"""

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.urls import reverse

from costs import month as figures
from costs.models import AlertKind, AlertMeasure, CostAlert
from costs.money import shown, to_nanos
from platform_admin import audit, notifications
from platform_admin.models import Environment, PlatformSettings

THRESHOLDS = (50, 90, 100)  # percent of the target
_SAID = {AlertMeasure.ACTUAL: "the actual month to date", AlertMeasure.FORECAST: "the forecast"}


def page_url(month: str, environment: Environment) -> str:
    return notifications.link(f"{reverse('costs:index')}?month={month}&env={environment.slug}")


def fire(environment: Environment, alerts: list[CostAlert], message: str) -> list[CostAlert]:
    """Store `alerts` (one crossing each), audit them and queue `message` for Slack, in one
    transaction; nothing when another check stored one of them a moment ago."""
    try:
        with transaction.atomic():
            for alert in alerts:
                alert.environment = environment
                alert.message = message
                alert.save(force_insert=True)
            first = alerts[-1]
            audit.record(
                "costs.alert",
                obj=first,
                environment=environment.slug,
                detail={
                    "kind": first.kind,
                    "month": first.invoice_month,
                    "measure": first.measure,
                    "thresholds": [a.threshold for a in alerts if a.threshold],
                    "component": first.component,
                    "day": first.day,
                    **first.detail,
                    "message": message,
                },
            )
            notifications.notify(environment, message)
    except IntegrityError:  # fired already (a concurrent check): once per crossing
        return []
    return alerts


def crossed(value: Decimal, target: Decimal) -> list[int]:
    """The thresholds `value` has reached as a share of `target` (none without a target:
    a share of nothing is no figure)."""
    if not target or target <= 0:
        return []
    return [t for t in THRESHOLDS if value * 100 >= target * t]


def check_budgets(month: str, today: date) -> list[CostAlert]:
    """Fire the month's crossings not fired yet; returns the new alerts."""
    m = figures.month_figures(month, today)
    environments = {env.slug: env for env in Environment.objects.all()}
    done = set(
        CostAlert.objects.filter(kind=AlertKind.BUDGET, invoice_month=month).values_list(
            "environment_id", "measure", "threshold"
        )
    )
    currency = PlatformSettings.load().currency
    new = []
    for scope in m.scopes:
        env = environments.get(scope.slug)
        if env is None or scope.target is None:
            continue
        measures = [(AlertMeasure.ACTUAL, scope.net)]
        if not m.closed:  # a closed month's forecast is its actual
            measures.append((AlertMeasure.FORECAST, scope.forecast))
        for measure, value in measures:
            fresh = [t for t in crossed(value, scope.target) if (env.pk, measure, t) not in done]
            if fresh:
                new += _fire_budget(env, month, measure, value, scope.target, fresh, currency)
    return new


def _fire_budget(env, month, measure, value, target, thresholds, currency) -> list[CostAlert]:
    share = value / target * 100
    lower = [f"{t}%" for t in thresholds[:-1]]
    also = f" (and {', '.join(lower)})" if lower else ""
    message = (
        f"💸 {env.slug}: {_SAID[measure]} of {month} is {shown(value, currency)}, "
        f"{share:.0f}% of the {shown(target, currency)} target — crossed "
        f"{thresholds[-1]}%{also}. {page_url(month, env)}"
    )
    detail = {"amount": str(value), "target": str(target), "currency": currency}
    alerts = [
        CostAlert(
            kind=AlertKind.BUDGET,
            invoice_month=month,
            measure=measure,
            threshold=t,
            amount_nanos=to_nanos(value),
            detail=detail,
        )
        for t in thresholds
    ]
    return fire(env, alerts, message)
