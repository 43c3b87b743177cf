"""Billing data: the import history, the identities of the export rows already counted,
and the daily rollups every cost figure is read from.

Money is held as integer nano-units (10^-9 of the currency): exact on PostgreSQL and
SQLite alike (SQLite would sum decimals as floats), and the scale of BigQuery's NUMERIC,
so a row's amount equals Google's `CAST(cost AS NUMERIC)`. `costs.money` converts.
"""

from django.conf import settings
from django.db import models

from costs.money import from_nanos


class ImportSource(models.TextChoices):
    FILE = "file", "Export file"
    PULL = "pull", "BigQuery pull"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    REFUSED = "refused", "Refused"
    ERRORED = "errored", "Errored"


class BillingImport(models.Model):
    """One import of an export file or one BigQuery pull, whatever its outcome.

    `months` maps each invoice month the import touched ("2026-10") to its net before
    and after, as decimal strings: {"2026-10": {"before": "12.30", "after": "15.00"}}.
    """

    source = models.CharField(max_length=8, choices=ImportSource.choices)
    file_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    format = models.CharField(max_length=24, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.CharField(max_length=150, help_text="Username, or 'system' for jobs.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    message = models.TextField(blank=True)
    rows_read = models.PositiveBigIntegerField(default=0)
    rows_new = models.PositiveBigIntegerField(default=0)
    rows_known = models.PositiveBigIntegerField(default=0)
    months = models.JSONField(default=dict, blank=True)
    # Progress of a running import (the page polls these): bytes of the file read so far
    # (of size_bytes) and rows_read counting up.
    bytes_read = models.BigIntegerField(default=0)
    replace_months = models.BooleanField(
        default=False,
        help_text="The user asked to replace the figures of the months this import's rows "
        "fall in (whatever they came from) with the file's.",
    )
    pulled_month = models.CharField(max_length=7, blank=True, help_text="A pull: its month.")
    client_ip = models.GenericIPAddressField(
        null=True,
        blank=True,
        help_text="Where it was asked from (the upload's or page's address): the audit's "
        "where for its events, also when a worker runs it.",
    )
    upload_path = models.CharField(
        max_length=500,
        blank=True,
        help_text="Where an upload waits (removed as its import ends).",
    )
    job_id = models.CharField(max_length=64, blank=True)
    runner = models.CharField(
        max_length=100, blank=True, help_text="host:pid of the process that runs it (SQLite)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The import history lists the newest first.
            models.Index(fields=["-created_at"], name="billingimport_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.file_name or ''} ({self.status})".strip()

    @property
    def replaced_months(self) -> list[str]:
        """The months its "replace the month" emptied before counting it."""
        return [month for month, net in (self.months or {}).items() if net.get("replaced")]


class InvoiceMonth(models.Model):
    """Which source an invoice month's figures come from. A month never mixes the two,
    nor files of two formats: a pull replaces its month whole, files add rows; changing
    source or format means replacing the month's data explicitly."""

    month = models.CharField(max_length=7, unique=True, help_text="YYYY-MM")
    source = models.CharField(max_length=8, choices=ImportSource.choices)
    file_format = models.CharField(
        max_length=24,
        blank=True,
        help_text="A month from files: their format (bq-json or cost-table-csv); the other "
        "format's files hold the same usage summed differently. Blank: a pull, or not known.",
    )
    last_import = models.ForeignKey(
        BillingImport, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month} from {self.get_source_display()}"


class CostTarget(models.Model):
    """A monthly target finance set in the dashboard; it overrides the platform file's
    `monthly_target` (which stays the source for new environments). `component` blank =
    the whole environment."""

    environment = models.ForeignKey(
        "platform_admin.Environment", on_delete=models.CASCADE, related_name="cost_targets"
    )
    component = models.CharField(max_length=120, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["environment", "component"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "component"], name="costtarget_unique_scope"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.environment.slug} {self.component or 'total'}: {self.amount}"


class BillingRow(models.Model):
    """The identity of one export row already counted: nothing else of it is kept.

    Identity = hash of the row's canonical parsed content + its occurrence number among
    identical rows of its own file. A file with the same row three times claims
    occurrences 1, 2 and 3; another file holding it twice finds 1 and 2 taken and adds
    nothing, so overlapping exports count every distinct row once, in any order.
    """

    # The identity is the key: the rule that makes imports idempotent, and the index of
    # every import's "already known?" anti-join.
    pk = models.CompositePrimaryKey("row_hash", "occurrence")
    row_hash = models.BinaryField(max_length=16)
    occurrence = models.PositiveIntegerField()
    invoice_month = models.CharField(max_length=7)
    # Which import claimed the row. No database constraint or index: checking a million
    # new rows' reference at commit took a tenth of an import, and imports are never
    # deleted (PROTECT keeps the ORM from it).
    billing_import = models.ForeignKey(
        BillingImport,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )

    # Replacing a month imported from files forgets its identities by `invoice_month`, with
    # no index: a rare, audited act may scan the table, and an import adding a million
    # rows spends 0.9 s less without a second index to insert them into.

    def __str__(self) -> str:
        return f"{self.invoice_month} {bytes(self.row_hash).hex()} #{self.occurrence}"


class CostDaily(models.Model):
    """Export rows summed per usage day (US/Pacific) and everything a figure groups by.

    `project_id` and `labels` are kept so that attribution (`environment`, `component`,
    both derived) can be recomputed when an environment's cost_labels or gcp_project
    change. `key_hash` identifies the bucket: a hash of every field below except the
    derived and summed ones.
    """

    key_hash = models.CharField(max_length=32)
    usage_day = models.DateField()
    invoice_month = models.CharField(max_length=7, help_text="YYYY-MM")
    environment = models.ForeignKey(
        "platform_admin.Environment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cost_days",
        help_text="Blank = unallocated.",
    )
    component = models.TextField()
    project_id = models.TextField(blank=True)
    labels = models.JSONField(default=dict, blank=True)
    service_id = models.TextField(blank=True)
    service_description = models.TextField(blank=True)
    sku_id = models.TextField(blank=True)
    sku_description = models.TextField(blank=True)
    cost_type = models.TextField()
    currency = models.CharField(max_length=3)
    currency_conversion_rate = models.TextField(blank=True)
    region = models.TextField(blank=True)
    usage_unit = models.TextField(blank=True)
    usage_amount = models.DecimalField(max_digits=38, decimal_places=9, default=0)
    cost_nanos = models.BigIntegerField(default=0, help_text="Gross cost, before credits.")
    credits_nanos = models.BigIntegerField(default=0, help_text="Sum of credits (negative).")
    net_nanos = models.BigIntegerField(default=0, help_text="cost + credits.")
    credits_by_type = models.JSONField(
        default=dict, blank=True, help_text='{"FREE_TIER": "-1.250000000"}: decimal strings.'
    )
    row_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # One bucket per key: an import adds into the bucket instead of duplicating it.
            models.UniqueConstraint(fields=["key_hash"], name="costdaily_unique_key"),
        ]
        indexes = [
            # Month figures: WHERE invoice_month = ... GROUP BY environment / service.
            models.Index(fields=["invoice_month", "environment"], name="costdaily_month_env"),
            # Daily chart of an environment: WHERE environment = ... AND usage_day BETWEEN.
            models.Index(fields=["environment", "usage_day"], name="costdaily_env_day"),
        ]

    def __str__(self) -> str:
        return f"{self.usage_day} {self.component} {self.sku_description}"

    @property
    def cost(self):
        return from_nanos(self.cost_nanos)

    @property
    def credits(self):
        return from_nanos(self.credits_nanos)

    @property
    def net(self):
        return from_nanos(self.net_nanos)


class PriceSnapshot(models.Model):
    """The list prices the estimator uses, as the Cloud Billing Catalog stated them when
    they were read (`refresh_prices`, daily). Every estimate names the snapshot it used.

    `skus` maps the estimator's key per region ("us-central1/run.cpu.instance") to
    {"sku_id", "description", "usage_unit", "tiers": [[start, price per usage unit], ...]}
    with decimal strings; `missing` lists the keys the catalog had no SKU for.
    """

    taken_at = models.DateTimeField(auto_now_add=True)
    currency = models.CharField(max_length=3)
    skus = models.JSONField(default=dict)
    missing = models.JSONField(default=list, blank=True)
    taken_by = models.CharField(max_length=150, help_text="Username, or 'system' for jobs.")

    class Meta:
        ordering = ["-taken_at", "-id"]
        get_latest_by = ["taken_at", "id"]

    def __str__(self) -> str:
        return f"prices of {self.taken_at:%Y-%m-%d %H:%M} UTC ({len(self.skus)} SKUs)"


class AlertKind(models.TextChoices):
    BUDGET = "budget", "Budget"
    ANOMALY = "anomaly", "Anomaly"


class AlertMeasure(models.TextChoices):
    ACTUAL = "actual", "Actual month to date"
    FORECAST = "forecast", "Forecast"


class CostAlert(models.Model):
    """One cost alert, posted to the environment's Slack channel and audited once.

    A budget alert: the `measure` (actual or forecast) of an environment reached
    `threshold` percent of its target in the invoice month; one per crossing per month.
    An anomaly: a component's net cost on `day` was more than twice its trailing median;
    one per component per day. `detail` keeps the figures the message was made from
    (decimal strings)."""

    kind = models.CharField(max_length=8, choices=AlertKind.choices)
    environment = models.ForeignKey(
        "platform_admin.Environment", on_delete=models.CASCADE, related_name="cost_alerts"
    )
    invoice_month = models.CharField(max_length=7, help_text="YYYY-MM")
    measure = models.CharField(max_length=8, choices=AlertMeasure.choices, blank=True)
    threshold = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Percent.")
    component = models.TextField(blank=True)
    day = models.DateField(null=True, blank=True, help_text="The anomaly's usage day.")
    amount_nanos = models.BigIntegerField(help_text="The figure that fired the alert.")
    detail = models.JSONField(default=dict, blank=True)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Once per crossing: threshold × measure × environment × invoice month.
            models.UniqueConstraint(
                fields=["environment", "invoice_month", "measure", "threshold"],
                condition=models.Q(kind="budget"),
                name="costalert_budget_once",
            ),
            # Once per component per day.
            models.UniqueConstraint(
                fields=["environment", "component", "day"],
                condition=models.Q(kind="anomaly"),
                name="costalert_anomaly_once",
            ),
        ]
        indexes = [
            # The Costs page lists a month's alerts, newest first.
            models.Index(fields=["invoice_month", "-created_at"], name="costalert_month"),
        ]

    def __str__(self) -> str:
        if self.kind == AlertKind.BUDGET:
            return f"{self.environment.slug} {self.invoice_month} {self.measure} {self.threshold}%"
        return f"{self.environment.slug} {self.component} anomaly on {self.day}"

    @property
    def amount(self):
        return from_nanos(self.amount_nanos)
