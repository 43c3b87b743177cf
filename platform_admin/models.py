"""Platform-wide models: roles granted per environment, the audit trail, platform settings."""

from django.conf import settings
from django.db import models


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
    # A string reference keeps the import graph pointing downward (deployments -> here).
    environment = models.ForeignKey(
        "deployments.Environment",
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
