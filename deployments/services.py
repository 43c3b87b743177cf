"""State changes of releases and rollouts. Views, the API and jobs call these.

Each function checks the actor's role, writes the change and its audit event in one
transaction and sends side effects (the engine job, notifications) on commit.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from costs.services import BudgetStatus, budget_status
from deployments import jobs, messages
from deployments.errors import Conflict, DeploymentError, OverBudget, RolloutConflict
from deployments.models import ACTIONS, Release, ReleaseArtifact, Rollout, RolloutState
from deployments.validators import (
    REASON_MAX,
    artifact_service_errors,
    clean_resources,
    cloud_run_service_names,
    static_site_names,
    text_error,
    validate_artifact,
    validate_notes,
    validate_semver,
)
from platform_admin import audit
from platform_admin.models import DEPLOYABLE_KINDS, Environment, Role
from platform_admin.roles import has_role, require

S = RolloutState


def _clean_reason(reason) -> str:
    """A person's reason, stripped; refused (a sentence) when over the limit or unstorable."""
    error = text_error(reason or "", "The reason", REASON_MAX)
    if error:
        raise DeploymentError(error)
    return (reason or "").strip()


def _enqueue_advance(rollout: Rollout) -> None:
    """The rollout is due now; its pass is enqueued once the transaction commits."""
    rollout.next_check_at = timezone.now()
    jobs.enqueue_on_commit(rollout.pk)


def _audit(action: str, actor, rollout: Rollout, **detail) -> None:
    detail = {"release": rollout.release.version, "state": rollout.state, **detail}
    audit.record(
        action, actor=actor, obj=rollout, environment=rollout.environment.slug, detail=detail
    )


# --- releases -------------------------------------------------------------------------


@transaction.atomic
def create_release(
    actor, version: str, artifacts: dict[str, str], notes: str = "", resources=None
) -> Release:
    """Register a release: one image pinned by digest per service it carries, and for a
    Cloud Run service optionally the resources its new revision runs with."""
    require(actor, Role.DEPLOYER, action="register releases", anywhere=True)
    errors = _release_errors(version, artifacts or {}, notes or "")
    cleaned, resource_errors = _resources(resources or {}, artifacts or {})
    errors += resource_errors
    if errors:
        raise DeploymentError(" ".join(errors))
    if Release.objects.filter(version=version).exists():
        raise Conflict(f"Release {version} exists already; releases are immutable.")
    release = Release.objects.create(version=version, notes=notes or "", created_by=actor)
    ReleaseArtifact.objects.bulk_create(
        ReleaseArtifact(
            release=release, service_name=name, image=image, resources=cleaned.get(name, {})
        )
        for name, image in sorted(artifacts.items())
    )
    detail = {"artifacts": dict(artifacts)}
    if cleaned:
        detail["resources"] = cleaned
    audit.record("release.created", actor=actor, obj=release, detail=detail)
    return release


def _resources(resources, artifacts: dict[str, str]) -> tuple[dict, list[str]]:
    """The release's Cloud Run resources, cleaned, and the sentences of what is wrong."""
    if not isinstance(resources, dict):
        return {}, [
            'resources: give a table per Cloud Run service, e.g. {"agent": {"memory_gib": 4}}.'
        ]
    cloud_run = set(cloud_run_service_names())
    cleaned, errors = {}, []
    for name, wanted in sorted(resources.items(), key=lambda kv: str(kv[0])):
        if name not in artifacts:
            errors.append(f"resources.{name}: the release carries no image for {name}.")
        elif name not in cloud_run:
            errors.append(f"resources.{name}: resources are set for Cloud Run services only.")
        else:
            try:
                cleaned[name] = clean_resources(name, wanted)
            except ValidationError as exc:
                errors += exc.messages
    return cleaned, errors


@transaction.atomic
def update_release(
    actor,
    release: Release,
    *,
    notes: str | None = None,
    artifacts: dict[str, str] | None = None,
    resources: dict | None = None,
) -> Release:
    """Correct a release no rollout has used yet (see `Release.used_in`)."""
    require(actor, Role.DEPLOYER, action="edit releases", anywhere=True)
    release = Release.objects.select_for_update().get(pk=release.pk)
    used_in = release.used_in()
    if used_in:
        raise Conflict(
            f"Release {release.version} has been deployed ({', '.join(used_in)}); "
            "deployed releases are immutable. Register a new version instead."
        )
    errors = _release_errors(None, artifacts, notes)
    old_resources = release.resources()
    new_artifacts = release.images() if artifacts is None else artifacts
    wanted = old_resources if resources is None else resources
    cleaned, resource_errors = _resources(wanted, new_artifacts)
    if resources is not None or artifacts is not None:
        errors += resource_errors
    if errors:
        raise DeploymentError(" ".join(errors))
    changes = {}
    old = release.images()
    if old != new_artifacts or cleaned != old_resources:
        release.artifacts.all().delete()
        ReleaseArtifact.objects.bulk_create(
            ReleaseArtifact(
                release=release, service_name=name, image=image, resources=cleaned.get(name, {})
            )
            for name, image in sorted(new_artifacts.items())
        )
        if old != new_artifacts:
            changes["artifacts"] = [old, dict(new_artifacts)]
        if cleaned != old_resources:
            changes["resources"] = [old_resources, cleaned]
    if notes is not None and notes != release.notes:
        changes["notes"] = [release.notes, notes]
        release.notes = notes
        release.save(update_fields=["notes"])
    if changes:
        audit.record("release.updated", actor=actor, obj=release, detail={"changes": changes})
    return release


def _release_errors(
    version: str | None, artifacts: dict[str, str] | None, notes: str | None
) -> list[str]:
    """Every reason the release's fields cannot be stored, as sentences; None means the
    field is not being set (an update of notes alone)."""
    errors = []
    checks = [(version, validate_semver, "version"), (notes, validate_notes, "notes")]
    for value, validator, label in checks:
        if value is None:
            continue
        try:
            validator(value)
        except ValidationError as exc:
            errors.append(f"{label}: {exc.messages[0]}")
    if artifacts is None:
        return errors
    if not artifacts:
        errors.append("artifacts: a release needs at least one service image.")
    name_errors = artifact_service_errors(artifacts)
    errors += name_errors
    # An unknown service's image is not judged: its name is wrong already.
    sites = set(static_site_names())
    for name, image in [] if name_errors else sorted(artifacts.items()):
        try:
            validate_artifact(name, image, is_site=name in sites)
        except ValidationError as exc:
            errors.append(f"artifacts.{name}: {exc.messages[0]}")
    return errors


# --- starting rollouts ----------------------------------------------------------------


def start_rollout(
    actor, release: Release, environment: Environment, strategy: str = "", budget_override=""
) -> Rollout:
    """Deploy `release` to `environment` (waits for approval where the environment says so).

    Where the environment blocks rollouts over budget (`block_when_over_budget`) and the
    month's forecast is over its target, the start is refused (OverBudget) unless the
    actor holds the approver role there and gives `budget_override`, a reason (audited)."""
    with _one_active_rollout(environment):
        return _start_rollout(actor, release, environment, strategy, budget_override)


@transaction.atomic
def _start_rollout(
    actor, release: Release, environment: Environment, strategy: str, budget_override
) -> Rollout:
    require(actor, Role.DEPLOYER, environment, "deploy")
    strategy = strategy or environment.default_strategy
    if strategy not in Rollout.Strategy.values:
        choices = ", ".join(Rollout.Strategy.values)
        raise DeploymentError(f"Unknown strategy {strategy!r}; choose one of {choices}.")
    plan, unknown = _plan(release, environment)
    if unknown:
        raise DeploymentError(
            f"Release {release.version} carries {', '.join(unknown)}, which "
            f"{environment.slug} has no deployable service for."
        )
    _check_promotion_rule(release, environment)
    over_budget = _blocking_budget(environment)
    if over_budget is not None:
        reason = _override_reason(
            actor, environment, over_budget, budget_override, "budget_override_reason"
        )
    state = S.PENDING_APPROVAL if environment.requires_approval else S.QUEUED
    steps = list(environment.canary_steps) if strategy == Rollout.Strategy.CANARY else [100]
    rollout = Rollout.objects.create(
        release=release,
        environment=environment,
        strategy=strategy,
        state=state,
        steps=steps or [100],
        plan=plan,
        **_phases(environment, verify=True),
        jobs=_jobs(release, environment),
        started_by=actor,
        next_check_at=timezone.now() if state == S.QUEUED else None,
    )
    _audit("rollout.started", actor, rollout, strategy=strategy, steps=rollout.steps)
    if over_budget is not None:
        _record_budget_override(actor, rollout, over_budget, reason)
    if state == S.QUEUED:
        jobs.enqueue_on_commit(rollout.pk)
        messages.rollout_message(rollout, "started")
    else:
        messages.rollout_message(rollout, "approval_needed")
    return rollout


def _blocking_budget(environment: Environment) -> BudgetStatus | None:
    """The environment's budget status when the gate stops rollouts now: it blocks them
    over budget (`block_when_over_budget`) and the forecast is over the target."""
    if not environment.block_when_over_budget:
        return None  # the deploy page warns; nothing is refused
    status = budget_status(environment)
    return status if status.blocks else None


def _override_reason(
    actor, environment: Environment, status: BudgetStatus, override, field: str
) -> str:
    """The reason `actor` gives to go past the gate (in `field`), checked: there is one,
    and the actor holds the approver role. OverBudget when there is none."""
    reason = _clean_reason(override)
    if not reason:
        raise OverBudget(
            f"{environment.slug} takes no rollout while {status.message}: an approver must "
            f"override the budget gate with a reason ({field})."
        )
    require(actor, Role.APPROVER, environment, "override the budget gate")
    return reason


def approval_budget(rollout: Rollout) -> BudgetStatus | None:
    """The budget status an approval of `rollout` must override: the gate stops rollouts
    in its environment now, and nobody overrode it when the rollout started."""
    if rollout.events.filter(kind="budget_override").exists():
        return None
    return _blocking_budget(rollout.environment)


def _record_budget_override(
    actor, rollout: Rollout, status: BudgetStatus, reason: str, done: str = "Started"
) -> None:
    figures = {
        "month": status.month,
        "forecast": str(status.forecast),
        "target": str(status.target),
        "currency": status.currency,
    }
    _audit("rollout.budget_override", actor, rollout, reason=reason, **figures)
    rollout.events.create(
        kind="budget_override",
        message=f"{done} over budget ({status.message}) on {actor.username}'s override: {reason}",
        data={**figures, "reason": reason, "by": actor.username},
    )


@contextmanager
def _one_active_rollout(environment: Environment) -> Iterator[None]:
    """The database refuses a second active rollout in an environment (a partial unique
    constraint); say which one is active. Around the transaction, which the refused
    INSERT ends, so a start needs no savepoint (two round trips) of its own."""
    try:
        yield
    except IntegrityError as exc:
        active = Rollout.objects.filter(environment=environment, state__in=S.active()).first()
        if active is None and "rollout_one_active_per_environment" not in str(exc):
            raise
        what = f" (#{active.pk}, {active.release.version}, {active.state})" if active else ""
        raise RolloutConflict(
            f"{environment.slug} already has an active rollout{what}; "
            "wait for it to finish or abort it first."
        ) from exc


def _plan(release: Release, environment: Environment) -> tuple[list[dict], list[str]]:
    """What a rollout of `release` to `environment` deploys: the deployable services the
    release carries, in service order, with kind and image (the rollout keeps this
    copy); and the services it carries that the environment has no deployable one for."""
    images = release.images()
    deployable = list(
        environment.services.filter(kind__in=DEPLOYABLE_KINDS)
        .order_by("position", "name")
        .values_list("name", "kind")
    )
    resources = release.resources()
    plan = [
        {"service": name, "kind": kind, "image": images[name]}
        | ({"resources": resources[name]} if name in resources else {})
        for name, kind in deployable
        if name in images
    ]
    unknown = sorted(set(images) - {name for name, _ in deployable})
    return plan, unknown


def _phases(environment: Environment, verify: bool) -> dict:
    """The environment's phase settings a rollout keeps from its start."""
    return {
        "verify_seconds": environment.verification_seconds if verify else 0,
        "vm_phase": environment.vm_phase,
        "release_is_atomic": environment.release_is_atomic,
    }


def _jobs(release: Release, environment: Environment) -> dict:
    """The pre-deploy job the rollout runs: the environment's, when the release carries
    the image it runs (a release that leaves that service alone has nothing to migrate)."""
    spec = environment.pre_deploy
    if not spec or spec.get("image_of") not in release.images():
        return {}
    return {"pre_deploy": {**spec, "state": "pending"}}


def migrations_since(environment: Environment, targets: list[Release]) -> dict[str, list[str]]:
    """Per target release: the releases whose rollouts in `environment` ran migrations
    after the target last went out there, oldest first (rolling back to the target runs
    its code on their schema). One query."""
    migrated = Q(jobs__pre_deploy__state="succeeded")
    rows = list(
        Rollout.objects.filter(environment=environment, state=S.SUCCEEDED)
        .filter(migrated | Q(release__in=targets))  # not every rollout of the history
        .order_by("finished_at", "pk")
        .values_list("release__version", "finished_at", "jobs__pre_deploy__state")
    )
    out = {}
    for target in targets:
        last = max((at for version, at, _ in rows if version == target.version), default=None)
        versions = [
            version
            for version, at, job in rows
            if version != target.version and (last is None or at > last) and job == "succeeded"
        ]
        out[target.version] = list(dict.fromkeys(versions))
    return out


def rollback_warnings(environment: Environment, targets: list[Release]) -> dict[str, str]:
    """{version: the warning a rollback to it carries} for the targets that have one."""
    out = {}
    for version, migrated in migrations_since(environment, targets).items():
        if migrated:
            out[version] = (
                f"{', '.join(migrated)} ran database migrations after {version} went out: "
                f"{version}'s code will run on their schema (its own migrations are not run "
                "again), so the data may not match it."
            )
    return out


def _check_promotion_rule(release: Release, environment: Environment) -> None:
    source = environment.promote_from
    if source is None:
        return
    if not Rollout.objects.filter(release=release, environment=source, state=S.SUCCEEDED).exists():
        raise DeploymentError(
            f"Release {release.version} has not succeeded in {source.slug} yet; "
            f"{environment.slug} only takes releases promoted from {source.slug}."
        )


def _succeeded_releases(environment: Environment) -> list[Release]:
    """Releases that succeeded in `environment`, most recent first, each once."""
    rollouts = (
        Rollout.objects.filter(environment=environment, state=S.SUCCEEDED)
        .select_related("release")
        .order_by("-finished_at", "-id")
    )
    return list(dict.fromkeys(r.release for r in rollouts))


def rollback_choices(environment: Environment) -> list[Release]:
    """What `rollback` accepts: earlier succeeded releases, not the live one."""
    return _succeeded_releases(environment)[1:]


def rollback(
    actor, environment: Environment, version: str = "", *, emergency: bool = False, reason: str = ""
) -> Rollout:
    """Put an earlier succeeded release back (default: the one before what is live).

    A rollback follows the environment's approval rule like any rollout: where approval
    is required it waits for a second person. `emergency=True`, with a reason, skips that
    wait: the explicit, audited path for when nobody else can be reached."""
    with _one_active_rollout(environment):
        return _rollback(actor, environment, version, emergency, reason)


@transaction.atomic
def _rollback(actor, environment: Environment, version: str, emergency: bool, reason) -> Rollout:
    require(actor, Role.DEPLOYER, environment, "roll back")
    reason = _clean_reason(reason)
    if emergency and not reason:
        raise DeploymentError("Say why this rollback cannot wait for approval (reason).")
    target, live = _rollback_target(environment, version)
    warning = rollback_warnings(environment, [target]).get(target.version, "")
    waits = environment.requires_approval and not emergency
    rollout = Rollout.objects.create(
        release=target,
        environment=environment,
        kind=Rollout.Kind.ROLLBACK,
        strategy=Rollout.Strategy.ALL_AT_ONCE,
        state=S.PENDING_APPROVAL if waits else S.QUEUED,
        steps=[100],
        plan=_plan(target, environment)[0],  # a service removed since is left out
        # A rollback is not verified: failing it would put back the release it replaces.
        **_phases(environment, verify=False),
        # Nor migrated: the older image's migrations ran long ago.
        jobs={"warning": warning} if warning else {},
        started_by=actor,
        next_check_at=None if waits else timezone.now(),
    )
    detail = {"from_release": getattr(live, "version", ""), "reason": reason}
    if warning:
        detail["migrations_warning"] = warning
        rollout.events.create(kind="warning", message=warning)
    if emergency and environment.requires_approval:
        detail["emergency"] = True  # the approval rule was skipped, on this person's word
        rollout.events.create(
            kind="emergency", message=f"Emergency rollback by {actor.username}: {reason}"
        )
    _audit("rollout.rollback_started", actor, rollout, **detail)
    if waits:
        messages.rollout_message(rollout, "approval_needed")
    else:
        jobs.enqueue_on_commit(rollout.pk)
        kind = "emergency" if detail.get("emergency") else "started"
        messages.rollout_message(rollout, kind, reason)
    return rollout


def _rollback_target(environment: Environment, version: str) -> tuple[Release, Release | None]:
    """The release to put back, and the live one."""
    succeeded = _succeeded_releases(environment)
    live = succeeded[0] if succeeded else None
    if version:
        target = next((r for r in succeeded if r.version == version), None)
        if target is None:
            raise DeploymentError(
                f"Release {version} never succeeded in {environment.slug}; "
                "only a release that did can be rolled back to."
            )
    else:
        target = next((r for r in succeeded if r != live), None)
        if target is None:
            raise DeploymentError(f"{environment.slug} has no earlier succeeded release.")
    if target == live:
        raise DeploymentError(f"Release {target.version} is already live in {environment.slug}.")
    return target, live


# --- controls on a rollout ------------------------------------------------------------
# Each control locks the row for a moment (no pass holds it across Google), checks the
# state table (`STATES`) and the role (`ACTIONS`), bumps the version so a pass in flight
# leaves its result unwritten, and writes the change with its audit event and timeline row.


@contextmanager
def _control(actor, rollout: Rollout | int, action: str) -> Iterator[Rollout]:
    """The locked rollout, once `actor` may use `action` on it now; saved on exit."""
    pk = rollout if isinstance(rollout, int) else rollout.pk
    with transaction.atomic():
        rollout = (
            Rollout.objects.select_for_update(of=("self",))
            .select_related("release", "environment", "started_by")
            .get(pk=pk)
        )
        require(actor, ACTIONS[action], rollout.environment, f"{action} rollouts")
        if action not in rollout.actions_now():
            state = rollout.get_state_display().lower()
            raise DeploymentError(f"Rollout #{pk} is {state}; it cannot be {_DONE[action]}.")
        before = {f.attname: getattr(rollout, f.attname) for f in Rollout._meta.concrete_fields}
        yield rollout
        rollout.version += 1
        changed = [
            f.name
            for f in Rollout._meta.concrete_fields
            if getattr(rollout, f.attname) != before[f.attname]
        ]
        rollout.save(update_fields=changed)


_DONE = {
    "approve": "approved",
    "reject": "rejected",
    "pause": "paused",
    "resume": "resumed",
    "promote": "promoted",
    "abort": "aborted",
}


def approve(actor, rollout: Rollout, budget_override: str = "") -> Rollout:
    """An approver other than the starter lets a waiting rollout go. Where the environment
    blocks rollouts over budget and the forecast is over its target now, the approval is
    what sends it out: it needs an override with a reason (audited), unless the rollout
    was started on one."""
    with _control(actor, rollout, "approve") as rollout:
        if actor.pk == rollout.started_by_id:
            raise PermissionDenied(
                f"{actor.username} started rollout #{rollout.pk}; another approver must approve it."
            )
        over = approval_budget(rollout)
        if over is not None:
            reason = _override_reason(actor, rollout.environment, over, budget_override, "reason")
            _record_budget_override(actor, rollout, over, reason, done="Approved")
        rollout.state = S.QUEUED
        rollout.approved_by = actor
        rollout.approved_at = timezone.now()
        _enqueue_advance(rollout)
        _audit("rollout.approved", actor, rollout)
        messages.rollout_message(rollout, "started")
    return rollout


def reject(actor, rollout: Rollout, reason: str) -> Rollout:
    """An approver turns a waiting rollout down, saying why."""
    with _control(actor, rollout, "reject") as rollout:
        reason = _clean_reason(reason)
        if not reason:
            raise DeploymentError("Say why the rollout is rejected (reason is required).")
        rollout.state = S.REJECTED
        rollout.message = f"Rejected by {actor.username}: {reason}"
        rollout.finished_at = timezone.now()
        _audit("rollout.rejected", actor, rollout, reason=reason)
        rollout.events.create(kind="rejected", message=rollout.message)
        messages.rollout_message(rollout, "rejected")
    return rollout


def pause(actor, rollout: Rollout) -> Rollout:
    """Hold the rollout where it is (its traffic split) until resumed; at once, even while
    a pass waits on Google (that pass then leaves its result unwritten)."""
    with _control(actor, rollout, "pause") as rollout:
        rollout.paused_from = rollout.state
        rollout.state = S.PAUSED
        rollout.next_check_at = None
        _audit("rollout.paused", actor, rollout)
        rollout.events.create(kind="paused", message=f"Paused by {actor.username}.")
    return rollout


def resume(actor, rollout: Rollout) -> Rollout:
    """Continue a paused rollout; the current step bakes again from now."""
    with _control(actor, rollout, "resume") as rollout:
        rollout.state = rollout.paused_from or S.CANARY
        rollout.paused_from = ""
        rollout.step_started_at = None
        _enqueue_advance(rollout)
        _audit("rollout.resumed", actor, rollout)
        rollout.events.create(kind="resumed", message=f"Resumed by {actor.username}.")
    return rollout


def promote(actor, rollout: Rollout) -> Rollout:
    """Skip the remaining canary steps: 100% on the new revisions now."""
    with _control(actor, rollout, "promote") as rollout:
        rollout.state = S.CANARY
        rollout.paused_from = ""
        rollout.step = len(rollout.steps) - 1
        rollout.step_started_at = None
        _enqueue_advance(rollout)
        _audit("rollout.promoted", actor, rollout)
        rollout.events.create(kind="promoted", message=f"Promoted to 100% by {actor.username}.")
    return rollout


def abort(actor, rollout: Rollout, reason: str = "") -> Rollout:
    """Stop the rollout; whatever it changed goes back to the stable revisions."""
    with _control(actor, rollout, "abort") as rollout:
        reason = _clean_reason(reason)
        why = f": {reason}" if reason else ""
        rollout.message = f"Aborted by {actor.username}{why}"
        rollout.aborted_by = actor
        if rollout.state in (S.PENDING_APPROVAL, S.QUEUED):
            rollout.state = S.ABORTED  # nothing was deployed yet
            rollout.finished_at = timezone.now()
            rollout.next_check_at = None
        else:
            rollout.state = S.ROLLING_BACK
            rollout.paused_from = ""
            _enqueue_advance(rollout)
        _audit("rollout.aborted", actor, rollout, reason=reason or "")
        rollout.events.create(kind="aborted", message=rollout.message)
        if rollout.state == S.ABORTED:
            messages.rollout_message(rollout, "aborted")
    return rollout


def allowed_actions(user, rollout: Rollout) -> set[str]:
    """The controls `user` may use on `rollout` right now (pages show only these)."""
    env = rollout.environment
    allowed = {a for a in rollout.actions_now() if has_role(user, ACTIONS[a], env)}
    if user.pk == rollout.started_by_id:
        allowed.discard("approve")  # the second person's rule
    return allowed


CONTROLS = {
    "approve": approve,
    "reject": reject,
    "pause": pause,
    "resume": resume,
    "promote": promote,
    "abort": abort,
}


def apply_action(actor, rollout: Rollout, action: str, reason: str = "") -> Rollout:
    """One entry point for the page's and the API's control buttons."""
    if action not in CONTROLS:
        raise DeploymentError(f"Unknown action {action!r}; choose one of {', '.join(CONTROLS)}.")
    if action in ("reject", "abort"):
        return CONTROLS[action](actor, rollout, reason)
    if action == "approve":  # the reason, if any, overrides the budget gate
        return approve(actor, rollout, budget_override=reason)
    return CONTROLS[action](actor, rollout)
