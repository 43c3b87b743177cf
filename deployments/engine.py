"""The rollout engine: `advance()` moves one rollout forward by as much as is due.

Each pass locks the rollout row (`select_for_update(skip_locked=True)`: a second worker
that finds it locked leaves it to the first), reads the live Cloud Run state and does only
what is still missing, so a job that runs twice, late or after a killed worker is harmless.
States: queued → deploying → canary (step by step) → succeeded, or → rolling_back →
rolled_back/aborted; failures before any traffic moved end in failed with traffic untouched.
The pass that finds the new revisions ready, or a step's analysis passed, sets the next
split itself; the bakes between them are scheduled jobs.

Within a pass the Google calls for the rollout's services run at the same time
(`fanout`); the rollout's fields and timeline rows are written here, in the pass's
transaction. When several services fail, the first in service order is the error reported.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from deployments import analysis, fanout, notify, vm
from deployments.models import (
    Environment,
    Release,
    Rollout,
    RolloutEvent,
    RolloutState,
    Service,
    ServiceKind,
)
from deployments.naming import revision_name
from deployments.traffic import (
    CANARY_TAG,
    apply_splits,
    stable_revision,
    step_targets,
    traffic_split,
)
from platform_admin import audit, gcp_run
from platform_admin.gcp import GcpError, GcpNotFound
from platform_admin.gcp_run import TrafficTarget

log = logging.getLogger(__name__)
S = RolloutState
MAX_PASSES = 20  # state changes applied back to back in one job run
MAX_RETRIES = 6  # consecutive transient Google errors before the rollout fails
INCONCLUSIVE_BAKES = 4  # too few requests: wait up to this many bake times, then fail
EARLY_SLACK = timedelta(milliseconds=500)


class _Timeline:
    """Collects a pass's timeline rows; `write()` inserts them in the pass's transaction."""

    def __init__(self, rollout: Rollout):
        self.rollout = rollout
        self.rows: list[RolloutEvent] = []

    def append(self, item) -> None:
        kind, message, *data = item
        self.rows.append(
            RolloutEvent(
                rollout=self.rollout, kind=kind, message=message, data=data[0] if data else {}
            )
        )

    def write(self) -> None:
        RolloutEvent.objects.bulk_create(self.rows)


@dataclass(frozen=True)
class _JobRows:
    """What a job reads once, on its first pass: the release, the environment, who
    started the rollout (with the locked row), and the services it deploys, from the
    plan the rollout copied when it started (the VMs' rows are read for their zone and
    health URL). Later passes lock the rollout row alone; the passes of one job follow
    each other within moments."""

    release: Release
    environment: Environment
    started_by: object
    images: dict[str, str]
    cloud_run: tuple[str, ...]
    vms: tuple[Service, ...]

    @classmethod
    def read(cls, rollout: Rollout) -> "_JobRows":
        plan = rollout.plan
        vm_names = [p["service"] for p in plan if p["kind"] == ServiceKind.GCE_VM]
        vms = rollout.environment.services.filter(name__in=vm_names) if vm_names else []
        return cls(
            release=rollout.release,
            environment=rollout.environment,
            started_by=rollout.started_by,
            images={p["service"]: p["image"] for p in plan},
            cloud_run=tuple(p["service"] for p in plan if p["kind"] == ServiceKind.CLOUD_RUN),
            vms=tuple(sorted(vms, key=lambda s: vm_names.index(s.name))),
        )

    def attach(self, rollout: Rollout) -> None:
        rollout.release, rollout.environment = self.release, self.environment
        rollout.started_by = self.started_by
        rollout.carried = self


def advance(rollout_id: int) -> datetime | None:
    """Run every pass that is due; return when the rollout next needs a look (None: never)."""
    next_at, rows = None, None
    for _ in range(MAX_PASSES):
        next_at, again, rows = _advance_once(rollout_id, rows)
        if not again:
            break
    return next_at


def _lock(rollout_id: int, rows: _JobRows | None) -> Rollout | None:
    """The rollout row, locked; None when another worker holds it. Its related rows come
    with it on a job's first pass, from `rows` on the later ones."""
    query = Rollout.objects.select_for_update(skip_locked=True, of=("self",))
    if rows is None:
        query = query.select_related("release", "environment", "started_by")
    rollout = query.filter(pk=rollout_id).first()
    if rollout is not None and rows is not None:
        rows.attach(rollout)
    return rollout


def _advance_once(
    rollout_id: int, rows: _JobRows | None
) -> tuple[datetime | None, bool, _JobRows | None]:
    with transaction.atomic():
        rollout = _lock(rollout_id, rows)
        if rollout is None or rollout.state not in HANDLERS:
            return None, False, rows  # locked by another worker, finished, paused, waiting
        now = timezone.now()
        if rollout.next_check_at and rollout.next_check_at > now + EARLY_SLACK:
            return rollout.next_check_at, False, rows  # an early duplicate; one is queued
        if rows is None:  # read only for a rollout this pass will move
            _JobRows.read(rollout).attach(rollout)
        timeline = _Timeline(rollout)
        before = rollout.state
        try:
            HANDLERS[before](rollout, timeline, now)
            rollout.retries = 0
        except GcpError as exc:
            _google_failed(rollout, timeline, exc, now)
        except vm.VmDeployFailed as exc:
            _fail(rollout, timeline, exc.message, now)
        timeline.write()
        rollout.save()
        if rollout.state != before:
            _audit_transition(rollout, before)
        due = rollout.next_check_at if rollout.is_active and rollout.state in HANDLERS else None
        return due, due is not None and due <= timezone.now(), rollout.carried


# --- state handlers ---------------------------------------------------------------------


def _queued(rollout: Rollout, timeline, now) -> None:
    """Name the new revisions. What serves traffic now (the stable revision) is read in
    the deploy pass, from the same call that prepares the update: a deploy pins traffic
    where it is, so a repeated deploy pass reads the same stable revision."""
    for name in _cloud_run_services(rollout):
        record = rollout.revisions.setdefault(name, {})
        record.setdefault("canary", revision_name(name, rollout.release.version, rollout.pk))
    rollout.state = S.DEPLOYING
    rollout.started_at = rollout.started_at or now
    rollout.next_check_at = now
    timeline.append(("deploying", "Creating the new revisions.", {"revisions": rollout.revisions}))


def _deploying(rollout: Rollout, timeline, now) -> None:
    env = rollout.environment
    images = rollout.carried.images
    names = list(_cloud_run_services(rollout))
    canary = {name: rollout.revisions[name]["canary"] for name in names}
    earlier = _earlier_revisions(rollout) if rollout.kind == Rollout.Kind.ROLLBACK else {}
    outcomes = fanout.run(
        lambda n: _deploy_revision(env, n, images[n], canary[n], earlier.get(n)), names
    )
    for name, outcome in zip(names, outcomes, strict=True):
        if not outcome.ok:
            continue
        reused, live = outcome.value
        record = rollout.revisions[name]
        record.setdefault("stable", stable_revision(live))
        rollout.traffic[name] = traffic_split(live)
        if reused:
            record["canary"] = reused
            timeline.append(("revision", f"{name}: reusing {reused}."))
        else:
            timeline.append(("revision", f"{name}: revision {record['canary']} is ready."))
    fanout.raise_first(outcomes)
    for service in _vm_services(rollout):
        vm.deploy(rollout, service, images[service.name], timeline)
    rollout.state = S.CANARY
    rollout.step = 0 if rollout.strategy == Rollout.Strategy.CANARY else len(rollout.steps) - 1
    rollout.step_started_at = None
    rollout.next_check_at = now
    _canary(rollout, timeline, timezone.now())  # the first split, in the same pass


def _deploy_revision(env, service_name: str, image: str, canary: str, earlier: str | None):
    """Google only: reuse `earlier` when it is still ready, else deploy `canary` and wait
    until it is ready. Returns (the reused revision or None, the live service): its split
    is still the one from before the rollout (a deploy adds the new revision at 0%)."""
    project, region = env.gcp_project, env.region
    if earlier:
        try:
            revision = gcp_run.get_revision(project, region, service_name, earlier)
        except GcpNotFound:
            revision = None
        if revision is not None and revision.ready:
            return earlier, gcp_run.get_service(project, region, service_name)
    live = gcp_run.deploy_revision(project, region, service_name, image, canary, tag=CANARY_TAG)
    return None, live


def _earlier_revisions(rollout: Rollout) -> dict[str, str]:
    """Rollback: the revisions an earlier succeeded rollout of this release made."""
    earlier = (
        Rollout.objects.filter(
            environment=rollout.environment, release=rollout.release, state=S.SUCCEEDED
        )
        .exclude(pk=rollout.pk)
        .order_by("-finished_at")
        .first()
    )
    if earlier is None:
        return {}
    return {
        name: record["canary"]
        for name, record in earlier.revisions.items()
        if isinstance(record, dict) and record.get("canary")
    }


def _canary(rollout: Rollout, timeline, now) -> None:
    percent = rollout.steps[rollout.step]
    if rollout.step_started_at is None:
        _set_step_traffic(rollout, timeline, percent)
        if percent >= 100:
            _succeed(rollout, timeline, timezone.now())  # finished once the split is in place
            return
        started = timezone.now()  # the bake starts once the split is in place
        rollout.step_started_at = started
        rollout.next_check_at = started + timedelta(seconds=rollout.environment.bake_seconds)
        notify.rollout_message(rollout, "step", f"{percent}% of traffic on the new revisions.")
        return
    verdicts = _analyse(rollout, percent, now)
    for verdict in verdicts:
        timeline.append(("analysis", verdict.reason, verdict.data))
    failed = [v for v in verdicts if v.outcome == analysis.FAIL]
    waiting = [v for v in verdicts if v.outcome == analysis.WAIT]
    bake = timedelta(seconds=rollout.environment.bake_seconds)
    if failed:
        _start_rollback(rollout, timeline, "; ".join(v.reason for v in failed), now)
    elif waiting and now - rollout.step_started_at >= bake * INCONCLUSIVE_BAKES:
        reasons = "; ".join(v.reason for v in waiting)
        _start_rollback(rollout, timeline, f"inconclusive: {reasons}", now)
    elif waiting:
        rollout.next_check_at = now + max(bake / 2, timedelta(seconds=1))
    else:
        rollout.step += 1
        rollout.step_started_at = None
        rollout.next_check_at = now
        _canary(rollout, timeline, timezone.now())  # the next split, in the same pass


def _analyse(rollout: Rollout, percent: int, now) -> list[analysis.Verdict]:
    """Every service's verdict on the step, from one read of Cloud Monitoring."""
    revisions = {
        name: (rollout.revisions[name]["canary"], rollout.revisions[name].get("stable"))
        for name in _cloud_run_services(rollout)
    }
    return analysis.analyse(rollout.environment, revisions, rollout.step_started_at, now, percent)


def _rolling_back(rollout: Rollout, timeline, now) -> None:
    env = rollout.environment
    stable = {
        name: rollout.revisions.get(name, {}).get("stable") for name in _cloud_run_services(rollout)
    }
    apply_splits(
        rollout, timeline, {name: [TrafficTarget(rev, 100)] for name, rev in stable.items() if rev}
    )
    for service in _vm_services(rollout):
        vm.restore(rollout, service, timeline)
    rollout.state = S.ABORTED if rollout.aborted_by_id else S.ROLLED_BACK
    rollout.finished_at = timezone.now()  # once the stable splits are back in place
    rollout.next_check_at = None
    timeline.append((rollout.state, f"All services back on their stable revisions in {env.slug}."))
    notify.rollout_message(rollout, "aborted" if rollout.aborted_by_id else "rolled_back")


HANDLERS = {
    S.QUEUED: _queued,
    S.DEPLOYING: _deploying,
    S.CANARY: _canary,
    S.ROLLING_BACK: _rolling_back,
}


# --- outcomes ---------------------------------------------------------------------------


def _audit_transition(rollout: Rollout, before: str) -> None:
    """Every state change the engine makes is audited, by "system", with the reason.
    Called last in a pass: the audit chain's lock is held until the commit, and never
    across Google calls."""
    audit.record(
        f"rollout.{rollout.state}",
        actor=None,
        obj=rollout,
        environment=rollout.environment.slug,
        detail={
            "release": rollout.release.version,
            "from": before,
            "to": rollout.state,
            "step": rollout.steps[rollout.step] if rollout.steps else None,
            "message": rollout.message,
        },
    )


def _succeed(rollout: Rollout, timeline, now) -> None:
    rollout.state = S.SUCCEEDED
    rollout.finished_at = now
    rollout.next_check_at = None
    rollout.step_started_at = None
    timeline.append(("succeeded", f"{rollout.release.version} serves 100% of traffic."))
    notify.rollout_message(rollout, "succeeded")


def _start_rollback(rollout: Rollout, timeline, reason: str, now) -> None:
    rollout.state = S.ROLLING_BACK
    rollout.message = reason
    rollout.next_check_at = now
    timeline.append(("rolling_back", f"Rolling back: {reason}"))


def _fail(rollout: Rollout, timeline, message: str, now) -> None:
    """Fail where it stands; with traffic already moved, go back to stable first.

    Before any traffic moved, a VM that already got the new version is put back (a
    Google error after its metadata write would otherwise leave it pinned)."""
    if rollout.state == S.CANARY:
        _start_rollback(rollout, timeline, message, now)
        return
    for service in _vm_services(rollout):
        try:
            vm.restore(rollout, service, timeline)
        except GcpError as exc:
            message += f" Restoring {service.name} failed too: {exc.message}"
    _fail_hard(rollout, timeline, message, now)


def _google_failed(rollout: Rollout, timeline, exc: GcpError, now) -> None:
    if exc.retryable and rollout.retries < MAX_RETRIES:
        rollout.retries += 1
        delay = min(2**rollout.retries, 30)
        rollout.next_check_at = now + timedelta(seconds=delay)
        timeline.append(("retry", f"Google is unavailable ({exc.message}); retrying in {delay} s."))
        return
    if rollout.state == S.ROLLING_BACK:
        _fail_hard(rollout, timeline, f"Could not restore traffic: {exc.message}", now)
        return
    _fail(rollout, timeline, f"Google Cloud error: {exc.message}", now)


def _fail_hard(rollout: Rollout, timeline, message: str, now) -> None:
    rollout.state = S.FAILED
    rollout.message = message
    rollout.finished_at = now
    rollout.next_check_at = None
    timeline.append(("failed", message))
    notify.rollout_message(rollout, "failed")


# --- traffic ----------------------------------------------------------------------------


def _set_step_traffic(rollout: Rollout, timeline, percent: int) -> None:
    apply_splits(
        rollout,
        timeline,
        {
            name: step_targets(rollout.revisions[name], percent)
            for name in _cloud_run_services(rollout)
        },
    )
    timeline.append(
        (
            "step",
            f"Step {rollout.step + 1}/{len(rollout.steps)}: {percent}% on the new revisions.",
            {"percent": percent},
        )
    )


def _cloud_run_services(rollout: Rollout) -> tuple[str, ...]:
    """The names of the Cloud Run services the rollout deploys, in service order."""
    return rollout.carried.cloud_run


def _vm_services(rollout: Rollout):
    return rollout.carried.vms
