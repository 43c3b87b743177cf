"""The platform every app stands on: environments and their services, roles granted per
environment, the audit trail, platform settings."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse


class VmPhase(models.TextChoices):
    """Where a rollout deploys its VMs."""

    AFTER = "after_canary", "after the Cloud Run canary reached 100%"
    BEFORE = "before_canary", "before any Cloud Run traffic moves"


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
    # A canary costing more than this × stable per request fails its step.
    max_cost_ratio = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal("1.5"))
    min_requests = models.PositiveIntegerField(default=100)
    default_strategy = models.CharField(max_length=16, default="canary")
    # After 100%: the verification bake (None = bake_seconds, 0 = none).
    verify_seconds = models.PositiveIntegerField(null=True, blank=True)
    vm_phase = models.CharField(max_length=16, choices=VmPhase.choices, default=VmPhase.AFTER)
    # A VM failing its probe rolls the release's Cloud Run services back too.
    pre_deploy = models.JSONField(
        default=dict,
        blank=True,
        help_text='The job run before traffic moves: {"job", "image_of", "args", '
        '"timeout_seconds", "required"}; empty = none.',
    )
    release_is_atomic = models.BooleanField(default=False)
    # Costs (the platform file's commitments and plan, see costs.estimate).
    block_when_over_budget = models.BooleanField(
        default=False,
        help_text="A rollout starting while the month's forecast is over the target needs "
        "an approver's override.",
    )
    commitments = models.JSONField(
        default=list,
        blank=True,
        help_text='Committed-use discounts: [{"type": "resource"|"spend", "term": "1y"|"3y", '
        '"share", "services"}].',
    )
    cost_plan = models.JSONField(
        default=dict,
        blank=True,
        help_text='The team\'s own figures: {"total": [low, high], "components": '
        '[{"name", "services", "cost": [low, high]}]}.',
    )
    # SLO.
    slo_p95_ms = models.PositiveIntegerField(default=500)
    slo_uptime = models.DecimalField(max_digits=6, decimal_places=5, default=Decimal("0.95"))

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("deployments:environment", args=[self.slug])

    @property
    def verification_seconds(self) -> int:
        """The verification bake after 100%: its own setting, else the bake time."""
        return self.bake_seconds if self.verify_seconds is None else self.verify_seconds


class ServiceKind(models.TextChoices):
    CLOUD_RUN = "cloud_run", "Cloud Run"
    GCE_VM = "gce_vm", "Compute Engine VM"
    STATIC_SITE = "static_site", "Static site"
    CLOUD_SQL = "cloud_sql", "Cloud SQL"
    MEMORYSTORE = "memorystore", "Memorystore"
    VPC_CONNECTOR = "vpc_connector", "Serverless VPC connector"


DEPLOYABLE_KINDS = (ServiceKind.CLOUD_RUN, ServiceKind.GCE_VM, ServiceKind.STATIC_SITE)


class Service(models.Model):
    """A component of an environment. `spec` holds the sizing the cost estimate uses."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=ServiceKind.choices)
    zone = models.CharField(max_length=40, blank=True)
    health_url = models.URLField(blank=True)
    # A static site's serving bucket, the URL map whose Cloud CDN caches it, its public URL.
    bucket = models.CharField(max_length=63, blank=True)
    url_map = models.CharField(max_length=63, blank=True)
    public_url = models.URLField(blank=True)
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
        if self.kind == ServiceKind.STATIC_SITE and self.bucket:
            return f"gs://{self.bucket}"
        return ""


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    DEPLOYER = "deployer", "Deployer"
    APPROVER = "approver", "Approver"
    FINANCE = "finance", "Finance"
    ADMIN = "admin", "Admin"


class RoleGrant(models.Model):
    """A role held by a user on one environment, or on every environment when blank."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    environment = models.ForeignKey(
        Environment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        help_text="Blank = every environment.",
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One grant of a role per user and scope; the "every environment" grant
            # (environment NULL) needs its own partial constraint to be unique as well.
            models.UniqueConstraint(
                fields=["user", "role", "environment"],
                condition=models.Q(environment__isnull=False),
                name="rolegrant_unique_per_environment",
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(environment__isnull=True),
                name="rolegrant_unique_everywhere",
            ),
        ]

    def __str__(self) -> str:
        scope = self.environment.slug if self.environment_id else "all environments"
        return f"{self.user} {self.role} on {scope}"


class PlatformSettings(models.Model):
    """The [billing] table of the platform file: a single row."""

    billing_account = models.CharField(max_length=32, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    export_table = models.CharField(
        max_length=300, blank=True, help_text="project.dataset.table of the billing export."
    )
    query_project = models.CharField(
        max_length=30, blank=True, help_text="The project the pull's BigQuery jobs run in."
    )
    component_label = models.CharField(max_length=63, default="app")

    class Meta:
        verbose_name_plural = "platform settings"

    def __str__(self) -> str:
        return f"billing account {self.billing_account or '(unset)'} in {self.currency}"

    @classmethod
    def load(cls) -> "PlatformSettings":
        return cls.objects.get_or_create(pk=1)[0]


class AuditEvent(models.Model):
    """One recorded action. Append-only: the database refuses UPDATE and DELETE.

    Each row carries the SHA-256 of the previous row's hash and its own canonical JSON,
    so an edit made behind the database's back breaks the chain (`verify_audit`).
    Actor and environment are stored as text, not foreign keys, so the record outlives
    the user or environment it names and never needs an UPDATE.
    """

    created_at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150, help_text="Username, or 'system' for jobs.")
    actor_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=64, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The audit page filters by actor and sorts newest first.
            models.Index(fields=["actor", "-id"], name="audit_actor_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"
