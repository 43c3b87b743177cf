"""Multi-window, multi-burn-rate alerts on each service's availability SLO, as in the
Google SRE workbook (chapter "Alerting on SLOs").

A rule fires when the burn rate is over its factor in both its long window (the budget
really is going) and its short one (it is still going now). An episode opens when a
severity's rules start firing, stays open while they keep firing and resolves when they
stop: Slack and the audit trail hear of it once at each end, never once per window.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from monitoring import readings, slo
from monitoring.models import AlertEpisode, Collection, Severity, Slo
from platform_admin import audit, notifications
from platform_admin.models import Environment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    severity: str
    factor: float
    long: str  # window names of readings.WINDOWS
    short: str

    @property
    def text(self) -> str:
        return f"burn rate > {self.factor:g} over {self.long} and {self.short}"


RULES = (
    Rule(Severity.PAGE, 14.4, "1h", "5m"),  # 2% of a 30-day budget in an hour
    Rule(Severity.PAGE, 6, "6h", "30m"),  # 5% in six hours
    Rule(Severity.TICKET, 1, "3d", "6h"),  # 10% in three days
)


@dataclass(frozen=True)
class Change:
    """An episode that opened or resolved in this evaluation."""

    episode: AlertEpisode
    opened: bool


def _window_fires(sums: readings.Sums, factor: float, target: float) -> bool:
    """Over the factor, with enough bad requests that it is not one unlucky request."""
    rate = slo.burn_rate(sums.totals, target)
    return rate is not None and rate > factor and sums.bad >= settings.HEALTH_ALERT_MIN_BAD_REQUESTS


def firing(sums: dict[str, readings.Sums], target: float) -> dict[str, Rule]:
    """{severity: the first of its rules firing} for one service's window sums."""
    out: dict[str, Rule] = {}
    for rule in RULES:
        if rule.severity in out:
            continue
        if _window_fires(sums[rule.long], rule.factor, target) and _window_fires(
            sums[rule.short], rule.factor, target
        ):
            out[rule.severity] = rule
    return out


def page_url(environment: Environment) -> str:
    return notifications.link(reverse("monitoring:environment", args=[environment.slug]))


def _rates(sums: dict[str, readings.Sums], target: float) -> dict[str, float | None]:
    return {name: slo.burn_rate(s.totals, target) for name, s in sums.items() if name != "30d"}


def _open(environment, service, rule, rates, now) -> Change | None:
    peak = max((r for r in rates.values() if r is not None), default=None)
    message = (
        f"🔥 {environment.slug}/{service}: {rule.severity} — {rule.text} "
        f"(1h {slo.describe(rates['1h'])}×, 6h {slo.describe(rates['6h'])}×) "
        f"{page_url(environment)}"
    )
    try:
        with transaction.atomic():
            episode = AlertEpisode.objects.create(
                environment=environment,
                service=service,
                slo=Slo.AVAILABILITY,
                severity=rule.severity,
                rule=rule.text,
                started_at=now,
                burn_rates=rates,
                peak_burn_rate=peak,
                message=message,
            )
            audit.record(
                "health.alert_opened",
                obj=episode,
                environment=environment.slug,
                detail={"service": service, "severity": rule.severity, "rule": rule.text},
            )
            notifications.notify(environment, message)
    except IntegrityError:  # another evaluation opened it a moment ago
        return None
    return Change(episode, opened=True)


def _resolve(episode: AlertEpisode, now) -> Change | None:
    env = episode.environment
    with transaction.atomic():
        claimed = AlertEpisode.objects.filter(pk=episode.pk, resolved_at__isnull=True).update(
            resolved_at=now
        )
        if not claimed:  # another evaluation resolved it
            return None
        episode.resolved_at = now
        audit.record(
            "health.alert_resolved",
            obj=episode,
            environment=env.slug,
            detail={"service": episode.service, "severity": episode.severity},
        )
        notifications.notify(
            env,
            f"✅ {env.slug}/{episode.service}: {episode.severity} resolved — "
            f"{episode.rule} no longer holds. {page_url(env)}",
        )
    return Change(episode, opened=False)


def _keep(episode: AlertEpisode, rates) -> None:
    peak = max((r for r in rates.values() if r is not None), default=None)
    if peak is not None and (episode.peak_burn_rate is None or peak > episode.peak_burn_rate):
        AlertEpisode.objects.filter(pk=episode.pk).update(peak_burn_rate=peak)


def evaluate_environment(environment: Environment, now: datetime) -> list[Change]:
    """Open, extend and resolve the environment's episodes from its window sums. Stale
    data decides nothing: an open episode stays open until fresh samples say otherwise."""
    cursor = Collection.objects.filter(environment=environment).first()
    if readings.is_stale(cursor, now):
        return []
    sums = readings.window_sums(environment, cursor, readings.data_end(cursor, now))
    target = float(environment.slo_uptime)
    episodes = {
        (e.service, e.severity): e
        for e in AlertEpisode.objects.filter(
            environment=environment, slo=Slo.AVAILABILITY, resolved_at__isnull=True
        )
    }
    services = {s for per in sums.values() for s in per} | {s for s, _ in episodes}
    changes = []
    for service in sorted(services):
        mine = {w: sums[w].get(service, readings.Sums()) for w in readings.WINDOWS}
        rules, rates = firing(mine, target), _rates(mine, target)
        for severity in Severity.values:
            episode, rule = episodes.get((service, severity)), rules.get(severity)
            if rule and episode is None:
                changes.append(_open(environment, service, rule, rates, now))
            elif rule:
                _keep(episode, rates)
            elif episode is not None:
                changes.append(_resolve(episode, now))
    return [c for c in changes if c is not None]


def evaluate(now: datetime) -> list[Change]:
    """Every environment's alerts at `now`; a fixed number of queries per environment
    plus one per episode that opens, resolves or reaches a new peak."""
    changes = []
    for environment in Environment.objects.order_by("slug"):
        changes += evaluate_environment(environment, now)
    return changes
