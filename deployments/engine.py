"""The rollout engine: `advance()` moves one rollout forward by as much as is due.

Each pass locks the rollout row (`select_for_update(skip_locked=True)`: a second worker
that finds it locked leaves it to the first), reads the live Cloud Run state and does only
what is still missing, so a job that runs twice, late or after a killed worker is harmless.
States: queued → deploying → canary (step by step) → succeeded, or → rolling_back →
rolled_back/aborted; failures before any traffic moved end in failed with traffic untouched.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from deployments import analysis, notify, vm
from deployments.models import Rollout, RolloutState, ServiceKind
from deployments.naming import revision_name
from platform_admin import gcp_run
from platform_admin.gcp import GcpError, GcpNotFound
from platform_admin.gcp_run import TrafficTarget

log = logging.getLogger(__name__)
S = RolloutState
MAX_PASSES = 20  # state changes applied back to back in one job run
MAX_RETRIES = 6  # consecutive transient Google errors before the rollout fails
INCONCLUSIVE_BAKES = 4  # too few requests: wait up to this many bake times, then fail
EARLY_SLACK = timedelta(milliseconds=500)
CANARY_TAG = "canary"


class _Timeline:
    """Collects timeline rows for the rollout (written in the same transaction)."""

    def __init__(self, rollout: Rollout):
        self.rollout = rollout

    def append(self, item) -> None:
        kind, message, *data = item
        self.rollout.events.create(kind=kind, message=message, data=data[0] if data else {})


def advance(rollout_id: int) -> datetime | None:
    """Run every pass that is due; return when the rollout next needs a look (None: never)."""
    next_at = None
    for _ in range(MAX_PASSES):
        next_at, again = _advance_once(rollout_id)
        if not again:
            break
    return next_at


def _advance_once(rollout_id: int) -> tuple[datetime | None, bool]:
    with transaction.atomic():
        rollout = (
            Rollout.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("release", "environment", "started_by")
            .filter(pk=rollout_id)
            .first()
        )
        if rollout is None or rollout.state not in HANDLERS:
            return None, False  # locked by another worker, finished, paused or waiting
        now = timezone.now()
        if rollout.next_check_at and rollout.next_check_at > now + EARLY_SLACK:
            return rollout.next_check_at, False  # an early duplicate; the real one is queued
        timeline = _Timeline(rollout)
        try:
            HANDLERS[rollout.state](rollout, timeline, now)
            rollout.retries = 0
        except GcpError as exc:
            _google_failed(rollout, timeline, exc, now)
        except vm.VmDeployFailed as exc:
            _fail(rollout, timeline, exc.message, now)
        rollout.save()
        due = rollout.next_check_at if rollout.is_active and rollout.state in HANDLERS else None
        return due, due is not None and due <= timezone.now()


# --- state handlers ---------------------------------------------------------------------


def _queued(rollout: Rollout, timeline, now) -> None:
    """Record what serves traffic now (the stable revision) before anything changes."""
    env = rollout.environment
    for service in _cloud_run_services(rollout):
        record = rollout.revisions.setdefault(service.name, {})
        if "stable" not in record:
            live = gcp_run.get_service(env.gcp_project, env.region, service.name)
            record["stable"] = stable_revision(live)
            rollout.traffic[service.name] = traffic_split(live)
        record.setdefault(
            "canary", revision_name(service.name, rollout.release.version, rollout.pk)
        )
    rollout.state = S.DEPLOYING
    rollout.started_at = rollout.started_at or now
    rollout.next_check_at = now
    timeline.append(("deploying", "Creating the new revisions.", {"revisions": rollout.revisions}))


def _deploying(rollout: Rollout, timeline, now) -> None:
    env = rollout.environment
    images = rollout.release.images()
    for service in _cloud_run_services(rollout):
        record = rollout.revisions[service.name]
        if rollout.kind == Rollout.Kind.ROLLBACK and _reuse_earlier_revision(rollout, service):
            timeline.append(("revision", f"{service.name}: reusing {record['canary']}."))
            continue
        gcp_run.deploy_revision(
            env.gcp_project,
            env.region,
            service.name,
            images[service.name],
            record["canary"],
            tag=CANARY_TAG,
        )
        timeline.append(("revision", f"{service.name}: revision {record['canary']} is ready."))
    for service in _vm_services(rollout):
        vm.deploy(rollout, service, images[service.name], timeline)
    rollout.state = S.CANARY
    rollout.step = 0 if rollout.strategy == Rollout.Strategy.CANARY else len(rollout.steps) - 1
    rollout.step_started_at = None
    rollout.next_check_at = now


def _reuse_earlier_revision(rollout: Rollout, service) -> bool:
    """Rollback: point at the revision an earlier rollout of this release made, if alive."""
    env = rollout.environment
    earlier = (
        Rollout.objects.filter(environment=env, release=rollout.release, state=S.SUCCEEDED)
        .exclude(pk=rollout.pk)
        .order_by("-finished_at")
        .first()
    )
    name = (earlier.revisions.get(service.name) or {}).get("canary") if earlier else None
    if not name:
        return False
    try:
        revision = gcp_run.get_revision(env.gcp_project, env.region, service.name, name)
    except GcpNotFound:
        return False
    if not revision.ready:
        return False
    rollout.revisions[service.name]["canary"] = name
    return True


def _canary(rollout: Rollout, timeline, now) -> None:
    percent = rollout.steps[rollout.step]
    if rollout.step_started_at is None:
        _set_step_traffic(rollout, timeline, percent)
        if percent >= 100:
            _succeed(rollout, timeline, now)
            return
        started = timezone.now()  # the bake starts once the split is in place
        rollout.step_started_at = started
        rollout.next_check_at = started + timedelta(seconds=rollout.environment.bake_seconds)
        notify.rollout_message(rollout, "step", f"{percent}% of traffic on the new revisions.")
        return
    verdicts = [
        analysis.analyse(
            rollout.environment,
            service.name,
            rollout.revisions[service.name]["canary"],
            rollout.revisions[service.name].get("stable"),
            rollout.step_started_at,
            now,
            percent,
        )
        for service in _cloud_run_services(rollout)
    ]
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


def _rolling_back(rollout: Rollout, timeline, now) -> None:
    env = rollout.environment
    for service in _cloud_run_services(rollout):
        stable = rollout.revisions.get(service.name, {}).get("stable")
        if stable:
            _apply_split(rollout, timeline, service.name, [TrafficTarget(stable, 100)])
    for service in _vm_services(rollout):
        vm.restore(rollout, service, timeline)
    rollout.state = S.ABORTED if rollout.aborted_by_id else S.ROLLED_BACK
    rollout.finished_at = now
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
    """Fail where it stands; with traffic already moved, go back to stable first."""
    if rollout.state == S.CANARY:
        _start_rollback(rollout, timeline, message, now)
        return
    rollout.state = S.FAILED
    rollout.message = message
    rollout.finished_at = now
    rollout.next_check_at = None
    timeline.append(("failed", message))
    notify.rollout_message(rollout, "failed")


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


def stable_revision(live) -> str | None:
    """The revision serving the most traffic (LATEST resolves to the latest ready one)."""
    split = traffic_split(live)
    return max(split, key=split.get) if split else live.latest_ready_revision


def traffic_split(live) -> dict[str, int]:
    split: dict[str, int] = {}
    for target in live.traffic:
        name = target.revision or live.latest_ready_revision
        if target.percent and name:
            split[name] = split.get(name, 0) + target.percent
    return split


def _set_step_traffic(rollout: Rollout, timeline, percent: int) -> None:
    for service in _cloud_run_services(rollout):
        record = rollout.revisions[service.name]
        canary, stable = record["canary"], record.get("stable")
        if percent >= 100 or not stable or stable == canary:
            targets = [TrafficTarget(canary, 100)]
        else:
            targets = [
                TrafficTarget(stable, 100 - percent),
                TrafficTarget(canary, percent, CANARY_TAG),
            ]
        _apply_split(rollout, timeline, service.name, targets)
    timeline.append(
        (
            "step",
            f"Step {rollout.step + 1}/{len(rollout.steps)}: {percent}% on the new revisions.",
            {"percent": percent},
        )
    )


def _apply_split(rollout: Rollout, timeline, service_name: str, targets) -> None:
    """Set the split unless the live service already has it (a repeated step)."""
    env = rollout.environment
    live = gcp_run.get_service(env.gcp_project, env.region, service_name)
    wanted = {(t.revision, t.percent, t.tag) for t in targets}
    current = {
        (t.revision or live.latest_ready_revision, t.percent, t.tag)
        for t in live.traffic
        if t.percent or t.tag
    }
    if current != wanted:
        live = gcp_run.set_traffic(env.gcp_project, env.region, service_name, list(targets))
    rollout.traffic[service_name] = traffic_split(live)
    timeline.append(
        (
            "traffic",
            f"{service_name}: {_describe(rollout.traffic[service_name])}",
            {"service": service_name, "split": rollout.traffic[service_name]},
        )
    )


def _describe(split: dict[str, int]) -> str:
    return ", ".join(f"{pct}% {rev}" for rev, pct in sorted(split.items(), key=lambda i: -i[1]))


def _cloud_run_services(rollout: Rollout):
    return _services(rollout, ServiceKind.CLOUD_RUN)


def _vm_services(rollout: Rollout):
    return _services(rollout, ServiceKind.GCE_VM)


def _services(rollout: Rollout, kind: str):
    carried = set(rollout.release.images())
    return [
        s
        for s in rollout.environment.services.filter(kind=kind).order_by("position", "name")
        if s.name in carried
    ]
