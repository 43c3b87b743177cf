"""The rollout engine: `advance()` moves one rollout forward by as much as is due.

A pass never holds a lock or a transaction while it waits on Google:

1. **claim**: a short transaction locks the row, checks that the engine drives its state
   (`STATES`) and that it is due, and takes its lease (`leases`) unless another pass
   holds a live one;
2. **work**: the state's handler calls Google, outside any transaction, on the copy it
   read, reading the live service and doing only what is still missing; the lease is
   renewed meanwhile;
3. **write**: a second short transaction writes the result where the version it read is
   still there (`UPDATE … WHERE version = n AND lease_owner = me`). A control made
   meanwhile (pause, abort, promote) bumped the version and wins: the pass then records
   only what Google now serves (traffic, revisions) and its timeline, and leaves the
   state alone.

The database is the schedule: `next_check_at` says when the rollout is next looked at,
and `claim_due()` (the periodic tick) hands due rollouts to the workers, so a lost job or
a dead worker never strands a rollout.

Failures: Google saying no (or a failed probe) fails the rollout with the message,
traffic safe; a transient Google error is retried with back-off; any other exception is a
crash, recorded on the timeline with its traceback and tried again later with back-off,
and after MAX_CRASHES in a row the rollout ends `errored` with traffic on stable.

States: queued → deploying → migrating (the pre-deploy job, when the environment has one)
→ canary (step by step) → verifying → succeeded, or →
rolling_back → rolled_back/aborted. The VMs go in the deploying pass (`vm_phase =
before_canary`, or a release with no Cloud Run service) or once the Cloud Run services
serve 100% (`after_canary`, the default); static sites once the Cloud Run services serve
100%, or in the deploying pass when the release has no Cloud Run service. The
verification bake judges the new revisions at 100% like a canary step; failing it rolls
back. Within a pass the Google calls for the rollout's services run at the same time
(`fanout`); when several fail, the first in service order is reported.
"""

import logging
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deployments import analysis, fanout, leases, messages, site, vm
from deployments.models import STATES, Release, Rollout, RolloutEvent, RolloutState
from deployments.naming import revision_name
from deployments.traffic import (
    CANARY_TAG,
    apply_splits,
    stable_revision,
    step_targets,
    traffic_split,
)
from deployments.validators import memory_quantity
from platform_admin import audit, gcp_run, gcp_run_jobs
from platform_admin.gcp import GcpError, GcpNotFound
from platform_admin.gcp_run import TrafficTarget
from platform_admin.models import Environment, Service, ServiceKind

log = logging.getLogger(__name__)
S = RolloutState
MAX_PASSES = 20  # passes run back to back in one job while the rollout stays due
MAX_RETRIES = 6  # consecutive transient Google errors before the rollout fails
MAX_CRASHES = 5  # consecutive crashed passes before the rollout ends errored
INCONCLUSIVE_BAKES = 4  # too few requests: wait up to this many bake times, then fail
JOB_LABEL = "platform-admin-rollout"  # on the job's executions: the rollout that ran it
CLAIM_LIMIT = 500  # rollouts one tick hands out
# The engine's own fields: a pass writes these, and only these, with its result.
ENGINE_FIELDS = (
    "state",
    "step",
    "message",
    "started_at",
    "finished_at",
    "next_check_at",
    "step_started_at",
    "retries",
    "crashes",
    "revisions",
    "traffic",
    "jobs",
)
DECISIONS = tuple(f for f in ENGINE_FIELDS if f not in ("revisions", "traffic"))


class _Pass:
    """What a pass leaves besides the rollout's fields: timeline rows and Slack messages,
    written and sent with its result."""

    def __init__(self, rollout: Rollout):
        self.rollout = rollout
        self.rows: list[RolloutEvent] = []
        self.messages: list[tuple[str, str]] = []

    def append(self, item) -> None:
        kind, message, *data = item
        self.rows.append(
            RolloutEvent(
                rollout=self.rollout, kind=kind, message=message, data=data[0] if data else {}
            )
        )

    def tell(self, kind: str, detail: str = "") -> None:
        self.messages.append((kind, detail))

    def write(self, send: bool) -> None:
        RolloutEvent.objects.bulk_create(self.rows)
        for kind, detail in self.messages if send else ():
            messages.rollout_message(self.rollout, kind, detail)  # sent on commit


@dataclass(frozen=True)
class _JobRows:
    """What a job reads once, on its first pass: the release, the environment, who
    started the rollout, and the services it deploys, from the plan the rollout copied
    when it started (the VMs' rows are read for their zone and health URL)."""

    release: Release
    environment: Environment
    started_by: object
    images: dict[str, str]
    resources: dict[str, dict]  # a Cloud Run service's resources where the release sets them
    cloud_run: tuple[str, ...]
    vms: tuple[Service, ...]
    sites: tuple[Service, ...]

    @classmethod
    def read(cls, rollout: Rollout) -> "_JobRows":
        plan = rollout.plan
        names = [p["service"] for p in plan if p["kind"] != ServiceKind.CLOUD_RUN]
        rows = list(rollout.environment.services.filter(name__in=names)) if names else []
        rows.sort(key=lambda s: names.index(s.name))
        return cls(
            release=rollout.release,
            environment=rollout.environment,
            started_by=rollout.started_by,
            images={p["service"]: p["image"] for p in plan},
            resources={p["service"]: p["resources"] for p in plan if p.get("resources")},
            cloud_run=tuple(p["service"] for p in plan if p["kind"] == ServiceKind.CLOUD_RUN),
            vms=tuple(s for s in rows if s.kind == ServiceKind.GCE_VM),
            sites=tuple(s for s in rows if s.kind == ServiceKind.STATIC_SITE),
        )

    def attach(self, rollout: Rollout) -> None:
        rollout.release, rollout.environment = self.release, self.environment
        rollout.started_by = self.started_by
        rollout.carried = self


def advance(rollout_id: int, owner: str = "") -> None:
    """Run every pass that is due now. `owner` is the tick's claim this job carries
    (empty: a job enqueued directly, which takes a free lease under a name of its own)."""
    owner = owner or f"job-{uuid.uuid4().hex[:20]}"
    rows = None
    for _ in range(MAX_PASSES):
        again, rows = _pass(rollout_id, owner, rows)
        if not again:
            return


def claim_due(now: datetime | None = None) -> tuple[str, list[int]]:
    """The tick: claim every due rollout nobody holds, race-free (two ticks at once claim
    each rollout once); returns the claim's name and the rollouts, to enqueue."""
    now = now or timezone.now()
    owner = f"tick-{uuid.uuid4().hex[:20]}"
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    with transaction.atomic():
        due = list(
            Rollout.objects.select_for_update(skip_locked=True)
            .filter(free, state__in=S.driven(), next_check_at__lte=now)
            .order_by("next_check_at")
            .values_list("pk", flat=True)[:CLAIM_LIMIT]
        )
        if due:
            # The job must start within a lease; if it is lost, the next tick claims again.
            Rollout.objects.filter(pk__in=due).update(
                lease_owner=owner, lease_until=leases.lease_end()
            )
    return owner, due


def _claim(rollout_id: int, owner: str, rows: _JobRows | None) -> Rollout | None:
    """Step 1: the rollout, leased to `owner`; None when it is not the engine's to move
    now (another pass holds it, it is not due, or a person has it: paused, finished)."""
    with transaction.atomic():
        query = Rollout.objects.select_for_update(of=("self",))
        if rows is None:
            query = query.select_related("release", "environment", "started_by")
        rollout = query.filter(pk=rollout_id).first()
        if rollout is None or not STATES[rollout.state].driven:
            return None
        now = timezone.now()
        if rollout.next_check_at is None or rollout.next_check_at > now:  # a bake is a minimum
            return None
        held = rollout.lease_until is not None and rollout.lease_until > now
        if held and rollout.lease_owner not in ("", owner):
            return None
        rollout.lease_owner, rollout.lease_until = owner, leases.lease_end()
        Rollout.objects.filter(pk=rollout_id).update(
            lease_owner=owner, lease_until=rollout.lease_until
        )
    (rows or _JobRows.read(rollout)).attach(rollout)
    return rollout


def _pass(rollout_id: int, owner: str, rows: _JobRows | None) -> tuple[bool, _JobRows | None]:
    """One claim → work → write; returns whether the rollout is due again at once."""
    rollout = _claim(rollout_id, owner, rows)
    if rollout is None:
        return False, rows
    version, before = rollout.version, rollout.state
    read = {name: getattr(rollout, name) for name in DECISIONS}
    work = _Pass(rollout)
    now = timezone.now()
    with leases.held(rollout_id, owner):
        try:
            HANDLERS[before](rollout, work, now)
            rollout.retries = rollout.crashes = 0
        except GcpError as exc:
            _google_failed(rollout, work, exc, now)
        except (vm.VmDeployFailed, site.SiteDeployFailed) as exc:
            _fail(rollout, work, exc.message, now)
        except Exception as exc:  # a crash: recorded with its traceback, never a hot loop
            _crashed(rollout, work, exc, read, now)
    if not _write(rollout, work, version, before, owner):
        return False, rollout.carried
    due = rollout.next_check_at
    return bool(STATES[rollout.state].driven and due and due <= timezone.now()), rollout.carried


def _write(rollout: Rollout, work: _Pass, version: int, before: str, owner: str) -> bool:
    """Step 3: the pass's result, where the state it read is still there; the audit
    event of a state change in the same transaction. False: a control won meanwhile."""
    values = {name: getattr(rollout, name) for name in ENGINE_FIELDS}
    with transaction.atomic():
        won = Rollout.objects.filter(pk=rollout.pk, version=version, lease_owner=owner).update(
            **values, version=version + 1, lease_owner="", lease_until=None
        )
        if not won:
            # What Google now serves is a fact whoever decides next; the decisions are not.
            Rollout.objects.filter(pk=rollout.pk, lease_owner=owner).update(
                traffic=rollout.traffic,
                revisions=rollout.revisions,
                lease_owner="",
                lease_until=None,
            )
            work.append(("superseded", "The rollout was changed while this pass ran; left as is."))
        work.write(send=bool(won))
        if won:
            rollout.version = version + 1
            if rollout.state != before:
                _audit_transition(rollout, before)
    return bool(won)


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
    resources = rollout.carried.resources
    names = list(_cloud_run_services(rollout))
    canary = {name: rollout.revisions[name]["canary"] for name in names}
    earlier = _earlier_revisions(rollout) if rollout.kind == Rollout.Kind.ROLLBACK else {}
    outcomes = fanout.run(
        lambda n: _deploy_revision(env, n, images[n], canary[n], earlier.get(n), resources.get(n)),
        names,
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
    if rollout.jobs.get("pre_deploy", {}).get("state") == "pending":
        rollout.state = S.MIGRATING  # the job runs before any traffic moves
        rollout.next_check_at = now
        return
    _start_traffic(rollout, timeline, now)


def _start_traffic(rollout: Rollout, timeline, now) -> None:
    """The new revisions are ready (and migrated): the VMs that go first, then the
    first split."""
    _deploy_units(rollout, timeline, _units(rollout, first=True))
    rollout.state = S.CANARY
    rollout.step = 0 if rollout.strategy == Rollout.Strategy.CANARY else len(rollout.steps) - 1
    rollout.step_started_at = None
    rollout.next_check_at = now
    _canary(rollout, timeline, timezone.now())  # the first split, in the same pass


def _migrating(rollout: Rollout, timeline, now) -> None:
    """The pre-deploy job (the migrations) with the release's image: started once (a
    pass after a worker died finds its execution by the rollout's label), then looked at
    every DEPLOYMENTS_JOB_POLL_SECONDS until it ends; traffic moves only after it succeeded."""
    job = rollout.jobs["pre_deploy"]
    env = rollout.environment
    project, region = env.gcp_project, env.region
    if not job.get("execution"):
        labels = {JOB_LABEL: str(rollout.pk)}
        execution = gcp_run_jobs.find_execution(project, region, job["job"], labels)
        if execution is None:
            image = rollout.carried.images[job["image_of"]]
            execution = gcp_run_jobs.run_with_image(
                project, region, job["job"], image, job["args"], job["timeout_seconds"], labels
            )
        job.update(execution=execution.name, short=execution.short, log_uri=execution.log_uri)
        job.update(state="running", started_at=timezone.now().isoformat())
        timeline.append(
            (
                "job",
                f"Migrations: job {job['job']} runs {job['image_of']}'s image of "
                f"{rollout.release.version} (execution {execution.short}).",
                {"execution": execution.name},
            )
        )
        rollout.next_check_at = timezone.now() + _job_poll()
        return
    execution = gcp_run_jobs.get_execution(project, job["execution"])
    job["tasks"] = {
        "total": execution.task_count,
        "succeeded": execution.succeeded_count,
        "failed": execution.failed_count,
        "running": execution.running_count,
    }
    if not execution.done:
        rollout.next_check_at = now + _job_poll()
        return
    started, ended = execution.started_at, execution.completed_at
    job["seconds"] = round((ended - started).total_seconds(), 1) if started and ended else None
    job.update(state="succeeded" if execution.succeeded else "failed", message=execution.message)
    job["finished_at"] = timezone.now().isoformat()
    version = rollout.release.version
    if execution.succeeded:
        timeline.append(("job", f"Migrations for {version} done in {job['seconds']} s."))
    elif not job.get("required", True):
        timeline.append(
            ("job", f"Migrations for {version} failed ({execution.message}); not required.")
        )
    else:
        reason = f"Migrations for {version} failed: {execution.message} No traffic moved."
        _fail(rollout, timeline, reason, now)
        return
    _start_traffic(rollout, timeline, timezone.now())


def _cancel_migrations(rollout: Rollout, timeline) -> None:
    """A pre-deploy job still running when the rollout is stopped is cancelled: nothing
    of the release goes on once it is called off. Its execution is found by the rollout's
    label too, for a worker that died between starting it and recording it."""
    job = rollout.jobs.get("pre_deploy")
    if not job or job.get("state") not in ("pending", "running"):
        return
    env = rollout.environment
    if job.get("execution"):
        execution = gcp_run_jobs.get_execution(env.gcp_project, job["execution"])
    else:
        labels = {JOB_LABEL: str(rollout.pk)}
        execution = gcp_run_jobs.find_execution(env.gcp_project, env.region, job["job"], labels)
    if execution is None:
        return  # never started
    if not execution.done:
        try:
            execution = gcp_run_jobs.cancel_execution(env.gcp_project, execution.name)
        except GcpError as exc:
            if exc.retryable:
                raise
            execution = gcp_run_jobs.get_execution(env.gcp_project, execution.name)  # it ended
    job.update(execution=execution.name, short=execution.short, log_uri=execution.log_uri)
    job["finished_at"] = timezone.now().isoformat()
    if execution.cancelled:
        job.update(state="cancelled", message=execution.message)
        timeline.append(("job", f"Migrations cancelled (execution {execution.short})."))
    else:  # it ended on its own meanwhile
        outcome = "succeeded" if execution.succeeded else "failed"
        job.update(state=outcome, message=execution.message)


def _job_poll() -> timedelta:
    return timedelta(seconds=settings.DEPLOYMENTS_JOB_POLL_SECONDS)


def _deploy_revision(
    env, service_name: str, image: str, canary: str, earlier: str | None, resources=None
):
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
    live = gcp_run.deploy_revision(
        project,
        region,
        service_name,
        image,
        canary,
        tag=CANARY_TAG,
        resources=_quantities(resources),
    )
    return None, live


def _quantities(resources: dict | None) -> dict:
    """A release's resources as Cloud Run states them (memory_gib 4 → memory "4Gi")."""
    out = dict(resources or {})
    if "memory_gib" in out:
        out["memory"] = memory_quantity(out.pop("memory_gib"))
    return out


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
    percent = rollout.current_percent
    if rollout.step_started_at is None:
        _set_step_traffic(rollout, timeline, percent)
        if percent >= 100:
            _at_full_traffic(rollout, timeline)
            return
        started = timezone.now()  # the bake starts once the split is in place
        rollout.step_started_at = started
        rollout.next_check_at = started + timedelta(seconds=rollout.environment.bake_seconds)
        timeline.tell("step", f"{percent}% of traffic on the new revisions.")
        return
    bake = timedelta(seconds=rollout.environment.bake_seconds)
    if _judged(rollout, timeline, _analyse(rollout, percent, now), bake, now):
        rollout.step += 1
        rollout.step_started_at = None
        rollout.next_check_at = now
        _canary(rollout, timeline, timezone.now())  # the next split, in the same pass


def _judged(rollout: Rollout, timeline, verdicts, bake: timedelta, now) -> bool:
    """Record the verdicts; True when every service passed. A failure starts the
    rollback; too few requests wait (half a bake) up to INCONCLUSIVE_BAKES bakes, then
    roll back too."""
    for verdict in verdicts:
        timeline.append(("analysis", verdict.reason, verdict.data))
    failed = [v for v in verdicts if v.outcome == analysis.FAIL]
    waiting = [v for v in verdicts if v.outcome == analysis.WAIT]
    if failed:
        _start_rollback(rollout, timeline, "; ".join(v.reason for v in failed), now)
    elif waiting and now - rollout.step_started_at >= bake * INCONCLUSIVE_BAKES:
        reasons = "; ".join(v.reason for v in waiting)
        _start_rollback(rollout, timeline, f"inconclusive: {reasons}", now)
    elif waiting:
        rollout.next_check_at = now + max(bake / 2, timedelta(seconds=1))
    return not failed and not waiting


def _at_full_traffic(rollout: Rollout, timeline) -> None:
    """The new revisions serve 100%: the VMs now (when they go after the canary), then
    the verification bake, or success when the rollout has none."""
    if not _deploy_units(rollout, timeline, _units(rollout, first=False)):
        return
    if rollout.verifies:
        _start_verifying(rollout, timeline, timezone.now())
    else:
        _succeed(rollout, timeline, timezone.now())


def _start_verifying(rollout: Rollout, timeline, now) -> None:
    rollout.state = S.VERIFYING
    rollout.step_started_at = now
    rollout.next_check_at = now + timedelta(seconds=rollout.verify_seconds)
    timeline.append(
        (
            "verifying",
            f"Verifying: the new revisions at 100% are judged for {rollout.verify_seconds} s.",
            {"seconds": rollout.verify_seconds},
        )
    )


def _verifying(rollout: Rollout, timeline, now) -> None:
    """The verification bake (Cloud Deploy's verify phase): the new revisions at 100%,
    judged by the canary analysis over the bake; failing it rolls back to the previous
    revisions' traffic. A resumed verification bakes again from now."""
    if rollout.step_started_at is None:
        _start_verifying(rollout, timeline, now)
        return
    bake = timedelta(seconds=rollout.verify_seconds)
    verdicts = _analyse(rollout, 100, now, phase="in verification")
    if _judged(rollout, timeline, verdicts, bake, now):
        _succeed(rollout, timeline, timezone.now())


def _units(rollout: Rollout, first: bool) -> list[tuple[object, Service]]:
    """The VMs and static sites (each with its deployer module) of one phase: before any
    traffic moves (`first`), or once the Cloud Run services serve 100%
    (`Rollout.vms_go_first`, `Rollout.sites_go_first`)."""
    units = [(vm, s) for s in _vm_services(rollout) if rollout.vms_go_first == first]
    return units + [(site, s) for s in _site_services(rollout) if rollout.sites_go_first == first]


def _deploy_units(rollout: Rollout, timeline, units) -> bool:
    """Deploy VMs (probed; a failed probe restores the metadata) and static sites (the
    public URL checked; a wrong one switches the entry points back).

    Before the canary, or after it when the release is one unit (`release_is_atomic`), a
    failure raises and the rollout fails where it stands (rolling back what traffic and
    which units moved). After the canary otherwise, the failed unit is put back and the
    rollout fails with the Cloud Run services left on the new revisions: False."""
    for deployer, service in units:
        try:
            deployer.deploy(rollout, service, rollout.carried.images[service.name], timeline)
        except (vm.VmDeployFailed, site.SiteDeployFailed, GcpError) as exc:
            retryable = isinstance(exc, GcpError) and exc.retryable
            if retryable or rollout.state != S.CANARY or rollout.release_is_atomic:
                raise
            message = exc.message
            if isinstance(exc, GcpError):
                try:
                    deployer.restore(rollout, service, timeline)
                except (GcpError, site.SiteDeployFailed) as again:
                    message += f" Restoring {service.name} failed too: {again.message}"
            kept = ", ".join(_cloud_run_services(rollout))
            message += (
                f" {kept} stay on the new revisions: the environment does not make the "
                "release one unit (release_is_atomic = false)."
            )
            _fail_hard(rollout, timeline, message, timezone.now())
            return False
    return True


def _analyse(rollout: Rollout, percent: int, now, phase: str = "") -> list[analysis.Verdict]:
    """Every service's verdict on the step, from one read of Cloud Monitoring."""
    revisions = {
        name: (rollout.revisions[name]["canary"], rollout.revisions[name].get("stable"))
        for name in _cloud_run_services(rollout)
    }
    return analysis.analyse(
        rollout.environment,
        revisions,
        rollout.step_started_at,
        now,
        percent,
        phase,
        resources=rollout.carried.resources,
    )


def _rolling_back(rollout: Rollout, timeline, now) -> None:
    _cancel_migrations(rollout, timeline)
    _restore_stable(rollout, timeline)
    rollout.state = S.ABORTED if rollout.aborted_by_id else S.ROLLED_BACK
    rollout.finished_at = timezone.now()  # once the stable splits are back in place
    rollout.next_check_at = None
    env = rollout.environment.slug
    timeline.append((rollout.state, f"All services back on their stable revisions in {env}."))
    timeline.tell("aborted" if rollout.aborted_by_id else "rolled_back")


def _restore_stable(rollout: Rollout, timeline) -> None:
    """100% back on each service's stable revision, and the VMs' previous metadata."""
    stable = {
        name: rollout.revisions.get(name, {}).get("stable") for name in _cloud_run_services(rollout)
    }
    apply_splits(
        rollout, timeline, {name: [TrafficTarget(rev, 100)] for name, rev in stable.items() if rev}
    )
    for deployer, service in _all_units(rollout):
        deployer.restore(rollout, service, timeline)


HANDLERS = {
    S.QUEUED: _queued,
    S.DEPLOYING: _deploying,
    S.MIGRATING: _migrating,
    S.CANARY: _canary,
    S.VERIFYING: _verifying,
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
            "step": rollout.current_percent,
            "message": rollout.message,
            # What the rollout left serving: the health collector's drift check compares
            # the live state against the last rollout's (monitoring reads the audit trail).
            "traffic": rollout.traffic,
            "images": {p["service"]: p.get("image", "") for p in rollout.plan or []},
        },
    )


def _succeed(rollout: Rollout, timeline, now) -> None:
    rollout.state = S.SUCCEEDED
    rollout.finished_at = now
    rollout.next_check_at = None
    rollout.step_started_at = None
    timeline.append(("succeeded", f"{rollout.release.version} serves 100% of traffic."))
    timeline.tell("succeeded")


def _start_rollback(rollout: Rollout, timeline, reason: str, now) -> None:
    rollout.state = S.ROLLING_BACK
    rollout.message = reason
    rollout.next_check_at = now
    timeline.append(("rolling_back", f"Rolling back: {reason}"))


def _fail(rollout: Rollout, timeline, message: str, now) -> None:
    """Fail where it stands; with traffic already moved, go back to stable first.

    Before any traffic moved, a VM that already got the new version is put back (a
    Google error after its metadata write would otherwise leave it pinned)."""
    if rollout.state in (S.CANARY, S.VERIFYING):
        _start_rollback(rollout, timeline, message, now)
        return
    for deployer, service in _all_units(rollout):
        try:
            deployer.restore(rollout, service, timeline)
        except (GcpError, site.SiteDeployFailed) as exc:
            message += f" Restoring {service.name} failed too: {exc.message}"
    try:
        _drop_canary_tags(rollout, timeline)
    except GcpError as exc:
        message += f" Removing the canary tags failed too: {exc.message}"
    _fail_hard(rollout, timeline, message, now)


def _drop_canary_tags(rollout: Rollout, timeline) -> None:
    """A rollout that fails before traffic moved leaves its new revisions at 0% with the
    `canary` tag (also one whose deploy failed and was never recorded): read each
    service and set its split as it is, without the tag."""
    env = rollout.environment
    names = list(_cloud_run_services(rollout))

    def untag(name: str):
        live = gcp_run.get_service(env.gcp_project, env.region, name)
        if not any(t.tag == CANARY_TAG for t in live.traffic):
            return None
        kept = [
            TrafficTarget(t.revision or live.latest_ready_revision, t.percent, t.tag)
            for t in live.traffic
            if t.percent or (t.tag and t.tag != CANARY_TAG)
        ]
        return gcp_run.set_traffic(env.gcp_project, env.region, name, kept)

    outcomes = fanout.run(untag, names)
    for name, outcome in zip(names, outcomes, strict=True):
        if outcome.ok and outcome.value is not None:
            timeline.append(("traffic", f"{name}: the {CANARY_TAG} tag removed."))
    fanout.raise_first(outcomes)


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
    timeline.tell("failed")


def _crashed(rollout: Rollout, timeline, exc: Exception, read: dict, now) -> None:
    """An unexpected exception: the pass's decisions are void (what Google was told is
    kept: traffic, revisions); the traceback goes on the timeline and the next try is
    pushed back, doubling each time; after MAX_CRASHES in a row the rollout is errored."""
    log.exception("rollout %s: pass crashed", rollout.pk)
    for name, value in read.items():
        setattr(rollout, name, value)
    rollout.crashes += 1
    what = f"{type(exc).__name__}: {exc}"
    data = {"traceback": traceback.format_exc(), "attempt": rollout.crashes}
    if rollout.crashes < MAX_CRASHES:
        delay = settings.DEPLOYMENTS_CRASH_BACKOFF_SECONDS * 2 ** (rollout.crashes - 1)
        rollout.next_check_at = now + timedelta(seconds=delay)
        timeline.append(
            (
                "crash",
                f"Internal error ({what}); trying again in {delay} s "
                f"(attempt {rollout.crashes} of {MAX_CRASHES}).",
                data,
            )
        )
        return
    timeline.append(("crash", f"Internal error ({what}); no more attempts.", data))
    message = f"Stopped after {MAX_CRASHES} internal errors in a row (last: {what})."
    try:
        _restore_stable(rollout, timeline)
        message += " Traffic is on the stable revisions."
    except Exception as restore_exc:
        log.exception("rollout %s: restoring stable after the last crash failed", rollout.pk)
        message += f" Putting traffic back on stable failed too: {restore_exc}"
    rollout.state = S.ERRORED
    rollout.message = message
    rollout.finished_at = timezone.now()
    rollout.next_check_at = None
    rollout.step_started_at = None
    timeline.append(("errored", message))
    timeline.tell("errored")


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


def _site_services(rollout: Rollout):
    return rollout.carried.sites


def _all_units(rollout: Rollout) -> list[tuple[object, Service]]:
    return [(vm, s) for s in _vm_services(rollout)] + [(site, s) for s in _site_services(rollout)]
