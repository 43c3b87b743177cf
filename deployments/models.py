"""Environments and their services, releases, and rollouts of releases to environments."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from deployments.validators import validate_image_digest, validate_semver


class Environment(models.Model):
    """A deployment target (staging, production): one GCP project and region."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    position = models.PositiveIntegerField(default=0, help_text="Order in lists.")
    gcp_project = models.CharField(max_length=63)
    region = models.CharField(max_length=40)
    requires_approval = models.BooleanField(default=False)
    promote_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="promotes_to"
    )
    monthly_target = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    cost_labels = models.JSONField(default=dict, blank=True)
    # Name of the environment variable holding the Slack webhook URL; never the URL itself.
    slack_webhook_env = models.CharField(max_length=64, blank=True)
    # Canary plan.
    canary_steps = models.JSONField(default=list)
    bake_seconds = models.PositiveIntegerField(default=300)
    max_error_rate = models.DecimalField(max_digits=6, decimal_places=5, default=Decimal("0.005"))
    min_requests = models.PositiveIntegerField(default=100)
    default_strategy = models.CharField(max_length=16, default="canary")
    # SLO.
    slo_p95_ms = models.PositiveIntegerField(default=500)
    slo_uptime = models.DecimalField(max_digits=6, decimal_places=5, default=Decimal("0.95"))

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("deployments:environment", args=[self.slug])


class ServiceKind(models.TextChoices):
    CLOUD_RUN = "cloud_run", "Cloud Run"
    GCE_VM = "gce_vm", "Compute Engine VM"
    STATIC_SITE = "static_site", "Static site"
    CLOUD_SQL = "cloud_sql", "Cloud SQL"
    MEMORYSTORE = "memorystore", "Memorystore"


DEPLOYABLE_KINDS = (ServiceKind.CLOUD_RUN, ServiceKind.GCE_VM)


class Service(models.Model):
    """A component of an environment. `spec` holds the sizing the cost estimate uses."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=ServiceKind.choices)
    zone = models.CharField(max_length=40, blank=True)
    health_url = models.URLField(blank=True)
    spec = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["environment", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="service_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.environment.slug}/{self.name}"

    @property
    def is_deployable(self) -> bool:
        return self.kind in DEPLOYABLE_KINDS

    @property
    def gcp_resource(self) -> str:
        """The Google resource name of this service, where it has one."""
        env = self.environment
        if self.kind == ServiceKind.CLOUD_RUN:
            return f"projects/{env.gcp_project}/locations/{env.region}/services/{self.name}"
        if self.kind == ServiceKind.GCE_VM:
            return f"projects/{env.gcp_project}/zones/{self.zone}/instances/{self.name}"
        return ""


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


class ReleaseArtifact(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="artifacts")
    service_name = models.CharField(max_length=63)
    image = models.CharField(max_length=300, validators=[validate_image_digest])

    class Meta:
        ordering = ["service_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "service_name"], name="artifact_unique_service"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_name}={self.image}"

    @property
    def digest(self) -> str:
        return self.image.rsplit("@", 1)[-1]


class RolloutState(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    QUEUED = "queued", "Queued"
    DEPLOYING = "deploying", "Deploying"
    CANARY = "canary", "Canary"
    PAUSED = "paused", "Paused"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ABORTED = "aborted", "Aborted"
    REJECTED = "rejected", "Rejected"

    @classmethod
    def active(cls) -> list[str]:
        return [
            cls.PENDING_APPROVAL,
            cls.QUEUED,
            cls.DEPLOYING,
            cls.CANARY,
            cls.PAUSED,
            cls.ROLLING_BACK,
        ]



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
            # The reconciler: active rollouts whose next check is overdue.
            models.Index(
                fields=["next_check_at"],
                condition=Q(state__in=RolloutState.active()),
                name="rollout_active_next_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.release.version} → {self.environment.slug} (#{self.pk})"

    def get_absolute_url(self) -> str:
        return reverse("deployments:rollout", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.state in RolloutState.active()

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


class ApiToken(models.Model):
    """A bearer token for CI. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80, blank=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
