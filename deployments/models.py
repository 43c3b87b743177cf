"""Releases (versioned sets of image digests) and their rollouts to environments."""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from deployments.validators import validate_artifact, validate_semver
from platform_admin.models import Environment, Role, ServiceKind, VmPhase


class Release(models.Model):
    """A versioned set of image digests, one per service. Immutable once deployed."""

    version = models.CharField(max_length=64, unique=True, validators=[validate_semver])
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.version

    def get_absolute_url(self) -> str:
        return reverse("deployments:release", args=[self.version])

    def used_in(self) -> list[str]:
        """Slugs of the environments whose rollouts use this release, rejected ones aside.

        A release is immutable once any rollout takes it, even one waiting for approval:
        the approver reviews exactly these digests."""
        rollouts = self.rollouts.exclude(state=RolloutState.REJECTED)
        return sorted(set(rollouts.values_list("environment__slug", flat=True)))

    @property
    def is_locked(self) -> bool:
        return bool(self.used_in())

    def images(self) -> dict[str, str]:
        return {a.service_name: a.image for a in self.artifacts.all()}

    def resources(self) -> dict[str, dict]:
        """The Cloud Run resources the release sets, per service that carries any."""
        return {a.service_name: a.resources for a in self.artifacts.all() if a.resources}


class ReleaseArtifact(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="artifacts")
    service_name = models.CharField(max_length=63)
    # An image pinned by digest; for a static site, its build's Cloud Storage prefix.
    image = models.CharField(max_length=300)
    # Cloud Run only: what the new revision runs with, where the release changes it
    # ({"cpu": "2", "memory_gib": "4", "min_instances": 1, "max_instances": 10,
    # "concurrency": 10}, any of them); empty = as the service runs now.
    resources = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["service_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "service_name"], name="artifact_unique_service"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_name}={self.image}"

    def clean(self) -> None:
        try:
            validate_artifact(self.service_name, self.image)
        except ValidationError as exc:
            raise ValidationError({"image": exc.messages}) from exc

    @property
    def digest(self) -> str:
        return self.image.rsplit("@", 1)[-1]


class RolloutState(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    QUEUED = "queued", "Queued"
    DEPLOYING = "deploying", "Deploying"
    MIGRATING = "migrating", "Running migrations"
    CANARY = "canary", "Canary"
    VERIFYING = "verifying", "Verifying"
    PAUSED = "paused", "Paused"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ERRORED = "errored", "Errored"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ABORTED = "aborted", "Aborted"
    REJECTED = "rejected", "Rejected"

    @classmethod
    def active(cls) -> list[str]:
        """States that hold the environment's one active-rollout slot."""
        return [state for state, rule in STATES.items() if rule.active]

    @classmethod
    def driven(cls) -> list[str]:
        """States the engine moves on its own (the periodic tick looks at these)."""
        return [state for state, rule in STATES.items() if rule.driven]


@dataclass(frozen=True)
class StateRule:
    active: bool  # holds the environment's one active-rollout slot
    driven: bool  # the engine moves it when `next_check_at` is due
    actions: frozenset[str]  # the controls a person may use in this state


S = RolloutState
_ = frozenset
# The one table of states and the controls each allows. Views, the API, the services and
# the engine read it (`Rollout.actions_now`); the roles each control needs are in ACTIONS.
STATES = {
    S.PENDING_APPROVAL: StateRule(True, False, _({"approve", "reject", "abort"})),
    S.QUEUED: StateRule(True, True, _({"abort"})),
    S.DEPLOYING: StateRule(True, True, _({"pause", "abort"})),
    S.MIGRATING: StateRule(True, True, _({"pause", "abort"})),
    S.CANARY: StateRule(True, True, _({"pause", "promote", "abort"})),
    S.VERIFYING: StateRule(True, True, _({"pause", "abort"})),
    S.PAUSED: StateRule(True, False, _({"resume", "promote", "abort"})),
    S.ROLLING_BACK: StateRule(True, True, _()),
    S.SUCCEEDED: StateRule(False, False, _()),
    S.FAILED: StateRule(False, False, _()),
    S.ERRORED: StateRule(False, False, _()),
    S.ROLLED_BACK: StateRule(False, False, _()),
    S.ABORTED: StateRule(False, False, _()),
    S.REJECTED: StateRule(False, False, _()),
}
# Every control, and the role it needs on the rollout's environment.
ACTIONS = {
    "approve": Role.APPROVER,
    "reject": Role.APPROVER,
    "pause": Role.DEPLOYER,
    "resume": Role.DEPLOYER,
    "promote": Role.DEPLOYER,
    "abort": Role.DEPLOYER,
}


class Rollout(models.Model):
    """One release going to one environment; see design.md "Flows"."""

    class Kind(models.TextChoices):
        DEPLOY = "deploy", "Deploy"
        ROLLBACK = "rollback", "Rollback"

    class Strategy(models.TextChoices):
        CANARY = "canary", "Canary"
        ALL_AT_ONCE = "all_at_once", "All at once"

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="rollouts")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="rollouts")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DEPLOY)
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.CANARY)
    state = models.CharField(
        max_length=20, choices=RolloutState.choices, default=RolloutState.QUEUED
    )
    step = models.PositiveIntegerField(default=0, help_text="Index into the canary steps.")
    steps = models.JSONField(default=list, help_text="The plan, copied when the rollout starts.")
    plan = models.JSONField(
        default=list,
        blank=True,
        help_text="The services it deploys, in service order, each with its kind and image: "
        "copied when the rollout starts.",
    )
    # The environment's phases, copied when the rollout starts (what the approver saw):
    # the verification bake after 100% (0: none), where the VMs go, and whether a VM
    # failing its probe takes the Cloud Run services back too.
    verify_seconds = models.PositiveIntegerField(default=0)
    vm_phase = models.CharField(max_length=16, choices=VmPhase.choices, default=VmPhase.AFTER)
    release_is_atomic = models.BooleanField(default=False)
    # {"pre_deploy": the environment's job spec, copied at start, and the run: execution,
    # state, started/finished, tasks, log URI, message}; a rollback's {"warning": ...}.
    jobs = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True, help_text="Why it failed or rolled back, in words.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    aborted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    # Per service: {"stable": revision, "canary": revision} recorded as the job learns them.
    revisions = models.JSONField(default=dict, blank=True)
    # Per service: {revision: percent} as last set by the engine; pages read this, never GCP.
    traffic = models.JSONField(default=dict, blank=True)
    # The state a paused rollout returns to on resume.
    paused_from = models.CharField(max_length=20, blank=True)
    # Start of the current step's analysis window; None = the step's traffic is not set yet.
    step_started_at = models.DateTimeField(null=True, blank=True)
    # Consecutive transient Google errors; the engine backs off and gives up after a limit.
    retries = models.PositiveIntegerField(default=0)
    # Consecutive crashed passes (unexpected exceptions); after a limit: errored.
    crashes = models.PositiveIntegerField(default=0)
    # Bumped by every write of the state; a pass writes its result only where the version
    # it read is still there, so a control made meanwhile (pause, abort) wins.
    version = models.PositiveIntegerField(default=0)
    # The pass (or the tick's claim for one) that holds the rollout, until `lease_until`.
    # A running pass renews it; a dead worker's lease lapses within seconds.
    lease_owner = models.CharField(max_length=40, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Rule: at most one active rollout per environment. Enforced here so two
            # simultaneous starts cannot both pass a check in Python.
            models.UniqueConstraint(
                fields=["environment"],
                condition=Q(state__in=RolloutState.active()),
                name="rollout_one_active_per_environment",
            ),
        ]
        indexes = [
            # The tick: rollouts the engine drives whose next check is due.
            models.Index(
                fields=["next_check_at"],
                condition=Q(state__in=RolloutState.driven()),
                name="rollout_driven_next_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.release.version} → {self.environment.slug} (#{self.pk})"

    def get_absolute_url(self) -> str:
        return reverse("deployments:rollout", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return STATES[self.state].active

    @property
    def current_percent(self) -> int | None:
        """The share of traffic the current step puts on the new revisions; None before
        the rollout started."""
        if not self.started_at or not self.steps:
            return None
        return self.steps[min(self.step, len(self.steps) - 1)]

    def planned(self, kind: str) -> list[str]:
        """The services of `kind` the rollout deploys, in plan order."""
        return [p["service"] for p in self.plan if p["kind"] == kind]

    @property
    def vms_go_first(self) -> bool:
        """The VMs deploy before any traffic moves (`before_canary`, or nothing to
        canary); otherwise once the Cloud Run services serve 100%."""
        return self.vm_phase == VmPhase.BEFORE or not self.planned(ServiceKind.CLOUD_RUN)

    @property
    def verifies(self) -> bool:
        """A verification bake follows 100% (there are Cloud Run revisions to judge)."""
        return bool(self.verify_seconds and self.planned(ServiceKind.CLOUD_RUN))

    @property
    def sites_go_first(self) -> bool:
        """Static sites follow the Cloud Run services they call; alone, they go first."""
        return not self.planned(ServiceKind.CLOUD_RUN)

    def actions_now(self) -> frozenset[str]:
        """The controls this state allows (who may use them: `ACTIONS`). A rollout paused
        while it deployed has no canary step to skip: it cannot be promoted."""
        actions = STATES[self.state].actions
        if self.state == RolloutState.PAUSED and self.paused_from != RolloutState.CANARY:
            actions -= {"promote"}
        return actions

    def clean(self) -> None:
        if self.steps and (sorted(self.steps) != self.steps or self.steps[-1] != 100):
            raise ValidationError({"steps": "Canary steps must increase and end at 100."})


class RolloutEvent(models.Model):
    """A row of a rollout's timeline: step changes, traffic, analyses, operations, errors."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=32)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class TokenScope(models.TextChoices):
    """What an API token may do (besides reading). Its user's roles still apply."""

    RELEASES = "releases", "Register and correct releases"
    DEPLOY = "deploy", "Start rollouts"
    CONTROL = "control", "Pause, resume, promote and abort rollouts"
    APPROVE = "approve", "Approve and reject rollouts"
    ROLLBACK = "rollback", "Roll back"


# The scope each rollout control needs.
CONTROL_SCOPES = {
    "approve": TokenScope.APPROVE,
    "reject": TokenScope.APPROVE,
    "pause": TokenScope.CONTROL,
    "resume": TokenScope.CONTROL,
    "promote": TokenScope.CONTROL,
    "abort": TokenScope.CONTROL,
}


class ApiToken(models.Model):
    """A named bearer token for CI. Only its SHA-256 is stored; the token is shown once.

    It expires, and it may do only what its scopes and environments allow (an empty
    environment list: every environment), on top of its user's roles."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80, blank=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, blank=True, help_text="TokenScope values.")
    environments = models.JSONField(
        default=list, blank=True, help_text="Environment slugs; empty = every environment."
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name or self.prefix} ({self.user})"

    def status(self, now) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "active"

    def allows_environment(self, slug: str) -> bool:
        return not self.environments or slug in self.environments
