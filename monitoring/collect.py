"""Health collection: Cloud Monitoring figures into `HealthSample` rows.

One pass per environment (`sample_environment`):

1. minutes: the buckets since the last pass, re-reading the last few (Monitoring's
   newest points still grow for a while), or, first run / after a long gap, the
   current hour from its start;
2. hours: complete hours not yet held — rolled up from minute samples where those cover
   the hour, otherwise read from Monitoring at hourly alignment, back to
   `BACKFILL_DAYS` (the backfill: uptime and budgets are right from the first minute);
3. pruning beyond the retention of each resolution.

Google is called with no lock or transaction held; the writes then replace whole
windows in one transaction, so a pass that runs twice (two cron processes, a retry)
leaves the same rows, never doubles.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from monitoring import drift, rollup, site, slo_months, vm
from monitoring.models import Collection, HealthSample, LiveKind, LiveService, Resolution
from platform_admin import gcp, gcp_monitoring, gcp_run
from platform_admin.models import Environment, ServiceKind

log = logging.getLogger(__name__)

BACKFILL_DAYS = 30
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
RESAMPLE_MINUTES = 3  # late points: the last buckets are read again by the next passes
MINUTE_CATCHUP = timedelta(hours=6)  # a longer gap is filled with hours, not minutes
MINUTE_, HOUR_ = Resolution.MINUTE, Resolution.HOUR
RETENTION_DAYS_HOURLY = 90
RETENTION = {
    Resolution.MINUTE: timedelta(days=7),
    Resolution.HOUR: timedelta(days=RETENTION_DAYS_HOURLY),
}


def floor_to(moment: datetime, step: timedelta) -> datetime:
    """`moment` rounded down to a multiple of `step` since the epoch (UTC)."""
    seconds = int(step.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, moment.tzinfo)


def ceil_to(moment: datetime, step: timedelta) -> datetime:
    floor = floor_to(moment, step)
    return floor if floor == moment else floor + step


@dataclass(frozen=True)
class Plan:
    """The windows one pass reads from Google: minutes, and hours not rolled up."""

    minutes: tuple[datetime, datetime]
    fetch_hours: tuple[datetime, datetime]
    roll_hours: tuple[datetime, datetime]


def plan(cursor: Collection, now: datetime, backfill_days: int = BACKFILL_DAYS) -> Plan:
    """What a pass at `now` reads and writes, from where the collector stands."""
    end = floor_to(now, MINUTE)  # only complete minutes
    held = cursor.minutes_until
    if held is not None and held >= end - MINUTE_CATCHUP:
        start = max(held - RESAMPLE_MINUTES * MINUTE, cursor.minutes_from or held)
        coverage_from = cursor.minutes_from if cursor.minutes_from <= start else start
    else:  # first run or a long gap: minutes from this hour on, the rest in hours
        start = coverage_from = floor_to(end, HOUR)
    hour_end = floor_to(end, HOUR)
    oldest = hour_end - timedelta(days=backfill_days)
    hour_start = max(cursor.hours_until, oldest) if cursor.hours_until else oldest
    first_rolled = min(max(ceil_to(coverage_from, HOUR), hour_start), hour_end)
    # The hour whose last minutes this pass reads again is rolled up again with them.
    roll_from = max(ceil_to(coverage_from, HOUR), min(first_rolled, floor_to(start, HOUR)))
    return Plan((start, end), (hour_start, first_rolled), (roll_from, hour_end))


def _fetch(environment: Environment, services: list[str], window, period) -> dict:
    start, end = window
    if end <= start or not services:
        return {}
    return gcp_monitoring.revision_buckets(environment.gcp_project, services, start, end, period)


def _rows(environment, resolution, figures: dict) -> list[HealthSample]:
    return [
        HealthSample(
            environment=environment,
            resolution=resolution,
            time=at,
            service=service,
            revision=revision,
            requests=f.requests,
            errors_5xx=f.errors_5xx,
            errors_4xx=f.errors_4xx,
            p95_ms=f.p95_ms,
            p50_ms=f.p50_ms,
        )
        for (service, revision, at), f in sorted(figures.items())
    ]


def cloud_run_services(environment: Environment) -> list[str]:
    return list(
        environment.services.filter(kind=ServiceKind.CLOUD_RUN).values_list("name", flat=True)
    )


def sample_environment(
    environment: Environment, now: datetime, backfill_days: int = BACKFILL_DAYS
) -> Plan:
    """One collection pass for one environment (see the module docstring)."""
    cursor, _ = Collection.objects.get_or_create(environment=environment)
    todo = plan(cursor, now, backfill_days)
    services = cloud_run_services(environment)
    minutes = _fetch(environment, services, todo.minutes, MINUTE)
    hours = _fetch(environment, services, todo.fetch_hours, HOUR)
    probes = vm.observe(environment, now) + site.observe(environment, now)
    states = read_live(environment, services)
    with transaction.atomic():
        cursor = Collection.objects.select_for_update().get(pk=cursor.pk)
        samples = HealthSample.objects
        samples.replace_window(
            environment, MINUTE_, *todo.minutes, _rows(environment, MINUTE_, minutes), services
        )
        _write_probes(probes)
        _advance_minutes(cursor, todo.minutes)
        samples.replace_window(
            environment, HOUR_, *todo.fetch_hours, _rows(environment, HOUR_, hours), services
        )
        rollup.roll_hours(environment, *todo.roll_hours)
        for window in (todo.fetch_hours, todo.roll_hours):
            slo_months.refresh(environment, *window, now=now)
        cursor.hours_until = max(cursor.hours_until or todo.roll_hours[1], todo.roll_hours[1])
        write_live(environment, states, now)
        drift.check(environment)  # last: its audit event holds the chain's lock to the commit
        cursor.sampled_at, cursor.last_error = now, ""
        cursor.generation += 1
        cursor.save()
    return todo


def _write_probes(probes: list[HealthSample]) -> None:
    """One probe sample per VM and minute: a second pass in the same minute replaces it."""
    HealthSample.objects.bulk_create(
        probes,
        update_conflicts=True,
        unique_fields=["environment", "service", "revision", "resolution", "time"],
        update_fields=["requests", "errors_5xx"],
    )


def _traffic(state: gcp_run.ServiceState) -> list[dict]:
    # A LATEST entry without a name serves the newest ready revision.
    return [
        {"revision": t.revision or state.latest_ready_revision, "percent": t.percent, "tag": t.tag}
        for t in state.traffic
    ]


def read_live(environment: Environment, services: list[str]) -> list[gcp_run.ServiceState]:
    """Each Cloud Run service's live split and image (one Cloud Run read each; the Admin
    API has no batch read of several services). No lock or transaction held."""
    return [gcp_run.get_service(environment.gcp_project, environment.region, s) for s in services]


def write_live(environment: Environment, states: list[gcp_run.ServiceState], now) -> None:
    """The live-state rows of the Cloud Run services from what `read_live` returned."""
    for state in states:
        LiveService.objects.update_or_create(
            environment=environment,
            service=state.name,
            defaults={
                "traffic": _traffic(state),
                "image": state.image,
                "latest_ready_revision": state.latest_ready_revision,
                "kind": LiveKind.CLOUD_RUN,
                "status": state.status,
                "ready": state.ready,
                "observed_at": now,
            },
        )


def _advance_minutes(cursor: Collection, window) -> None:
    start, end = window
    if cursor.minutes_until is None or cursor.minutes_until < start:
        cursor.minutes_from = start  # a hole before `start`: coverage restarts
    else:
        cursor.minutes_from = min(cursor.minutes_from, start)
    cursor.minutes_until = max(cursor.minutes_until or end, end)


def prune(now: datetime) -> dict[str, int]:
    """Delete samples past their resolution's retention; returns the counts deleted."""
    deleted = {}
    for resolution, keep in RETENTION.items():
        cutoff = now - keep
        deleted[resolution] = HealthSample.objects.filter(
            resolution=resolution, time__lt=cutoff
        ).delete()[0]
        if resolution == Resolution.MINUTE:
            # Rolled-up hours must not count on minutes that are gone.
            Collection.objects.filter(minutes_from__lt=cutoff).update(minutes_from=cutoff)
    return deleted


def sample(now: datetime | None = None, backfill_days: int = BACKFILL_DAYS) -> dict[str, str]:
    """A pass for every environment, then pruning. An environment whose Google calls
    fail is recorded (`Collection.last_error`, a warning) and the others still run."""
    now = now or timezone.now()
    outcome = {}
    for environment in Environment.objects.all():
        try:
            sample_environment(environment, now, backfill_days)
            outcome[environment.slug] = "ok"
        except gcp.GcpError as exc:
            log.warning("health sampling of %s failed: %s", environment.slug, exc)
            Collection.objects.filter(environment=environment).update(
                last_error=str(exc), generation=F("generation") + 1
            )
            outcome[environment.slug] = f"failed: {exc}"
    prune(now)
    return outcome
