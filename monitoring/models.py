"""Health samples: each Cloud Run revision's traffic per minute and per hour, and the
collector's cursor per environment.

Two parallel series: minute samples (kept 7 days) for burn rates and charts up to a
week, hourly samples (kept 90 days) for 30-day uptime and error budgets. Each series is
complete on its own, so a reader picks one resolution for a window and sums it.
"""

from django.db import models

from platform_admin.models import Environment


class Resolution(models.TextChoices):
    MINUTE = "minute", "minute"
    HOUR = "hour", "hour"


class HealthSampleQuerySet(models.QuerySet):
    def window(self, environment, resolution: str, start, end) -> "HealthSampleQuerySet":
        """One environment's samples with bucket start in [start, end): the query the
        `healthsample_env_window` index serves."""
        return self.filter(
            environment=environment, resolution=resolution, time__gte=start, time__lt=end
        )

    def replace_window(self, environment, resolution: str, start, end, rows, services=None):
        """The samples of [start, end) become exactly `rows`: re-sampling a window
        replaces it, never doubles it. `services` limits the replacement to those (the
        Cloud Run figures leave the VM's probe samples alone). Call inside a transaction."""
        if end <= start:
            return
        window = self.window(environment, resolution, start, end)
        if services is not None:
            window = window.filter(service__in=list(services))
        window.delete()
        self.bulk_create(rows)


class HealthSample(models.Model):
    """One revision's requests, errors and latency in one bucket (minute or hour)."""

    time = models.DateTimeField(help_text="Start of the bucket (UTC).")
    resolution = models.CharField(max_length=6, choices=Resolution.choices)
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="health_samples"
    )
    service = models.CharField(max_length=63)
    revision = models.CharField(max_length=100)
    requests = models.PositiveBigIntegerField(default=0)
    errors_5xx = models.PositiveBigIntegerField(default=0)
    errors_4xx = models.PositiveBigIntegerField(default=0)
    p95_ms = models.FloatField(null=True, blank=True)
    p50_ms = models.FloatField(null=True, blank=True)

    objects = HealthSampleQuerySet.as_manager()

    class Meta:
        ordering = ["environment", "resolution", "time", "service", "revision"]
        constraints = [
            # Re-sampling a window replaces its buckets, never doubles them.
            models.UniqueConstraint(
                fields=["environment", "service", "revision", "resolution", "time"],
                name="healthsample_unique_bucket",
            ),
        ]
        indexes = [
            # "One environment's samples in a time window" (pages, SLO windows, the
            # collector's replace-a-window delete, pruning): a range scan whose length
            # depends on the window, never on how long history is.
            models.Index(
                fields=["environment", "resolution", "time"], name="healthsample_env_window"
            ),
        ]

    def __str__(self):
        return f"{self.service}/{self.revision} {self.resolution} {self.time:%Y-%m-%d %H:%M}"


class Collection(models.Model):
    """Where the collector stands for one environment: which minutes and hours it holds.

    Minute samples cover [minutes_from, minutes_until) without a hole (a gap restarts
    `minutes_from`), so an hour inside that span can be rolled up from its minutes; hours
    are complete up to `hours_until`. Pages read `sampled_at` to show the data's age.
    Everything one pass writes (samples, live state, drift, the cursor) commits together.
    """

    environment = models.OneToOneField(
        Environment, on_delete=models.CASCADE, related_name="health_collection"
    )
    minutes_from = models.DateTimeField(null=True, blank=True)
    minutes_until = models.DateTimeField(null=True, blank=True)
    hours_until = models.DateTimeField(null=True, blank=True)
    sampled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Why the last pass failed, if it did.")
    generation = models.PositiveBigIntegerField(
        default=0,
        help_text="Counts the passes (and failures) written: a page rendered from the data "
        "of one generation is reused until the next (platform_admin.page_cache).",
    )

    def __str__(self):
        return f"health collection of {self.environment.slug}"

    def minutes_cover(self, start, end) -> bool:
        """True when minute samples exist for the whole of [start, end)."""
        if self.minutes_from is None or self.minutes_until is None:
            return False
        return self.minutes_from <= start and end <= self.minutes_until


class LiveKind(models.TextChoices):
    CLOUD_RUN = "cloud_run", "Cloud Run service"
    GCE_VM = "gce_vm", "Compute Engine VM"
    STATIC_SITE = "static_site", "Static site"


class LiveService(models.Model):
    """What one Cloud Run service serves now, as Cloud Run last reported it: the split
    (revisions with percent and tags), the template image, the newest ready revision.

    One row per service, replaced at every pass; `observed_at` is the data's age. A VM has
    a row too (kind gce_vm): no traffic, `image` = the version its metadata pins, `status`
    = the instance status, `detail` = the probe's answer and the CPU utilisation.
    """

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="live_services"
    )
    service = models.CharField(max_length=63)
    traffic = models.JSONField(
        default=list, help_text='[{"revision": ..., "percent": ..., "tag": ...}], as served.'
    )
    image = models.CharField(max_length=500, blank=True)
    latest_ready_revision = models.CharField(max_length=100, blank=True)
    observed_at = models.DateTimeField()
    kind = models.CharField(max_length=12, choices=LiveKind.choices, default=LiveKind.CLOUD_RUN)
    status = models.CharField(
        max_length=200, blank=True, help_text="Ready condition (Cloud Run) or instance status (VM)."
    )
    ready = models.BooleanField(null=True, help_text="Serving as it should; None = unknown.")
    detail = models.JSONField(
        default=dict,
        blank=True,
        help_text='VM: {"probe_ok", "probe_version", "probe_detail", "cpu_utilization"}.',
    )
    drift = models.TextField(
        blank=True,
        help_text="How the live state differs from what the dashboard's last rollout left; "
        "blank = no drift. Each new sentence is audited once.",
    )

    class Meta:
        ordering = ["environment", "service"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "service"], name="liveservice_unique_service"
            ),
        ]

    def __str__(self):
        return f"{self.environment.slug}/{self.service} live"

    @property
    def split(self) -> dict[str, int]:
        """{revision: percent} of the revisions serving traffic now."""
        out: dict[str, int] = {}
        for entry in self.traffic:
            if entry["percent"]:
                out[entry["revision"]] = out.get(entry["revision"], 0) + entry["percent"]
        return out


class Slo(models.TextChoices):
    AVAILABILITY = "availability", "Availability"
    LATENCY = "latency", "Latency"


class Severity(models.TextChoices):
    PAGE = "page", "Page"
    TICKET = "ticket", "Ticket"


class AlertEpisode(models.Model):
    """One burn-rate alert from the moment its rule fired until it resolved: Slack hears
    of it once when it opens and once when it resolves, never once per window."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="alert_episodes"
    )
    service = models.CharField(max_length=63, blank=True, help_text="Blank = whole environment.")
    slo = models.CharField(max_length=12, choices=Slo.choices, default=Slo.AVAILABILITY)
    severity = models.CharField(max_length=6, choices=Severity.choices)
    rule = models.CharField(max_length=120, help_text='e.g. "burn rate > 14.4 over 1h and 5m".')
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    burn_rates = models.JSONField(default=dict, blank=True, help_text="{window: rate} at start.")
    peak_burn_rate = models.FloatField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One open episode per rule: a rule still firing extends it, never opens another.
            models.UniqueConstraint(
                fields=["environment", "service", "slo", "severity"],
                condition=models.Q(resolved_at__isnull=True),
                name="alertepisode_one_open",
            ),
        ]
        indexes = [models.Index(fields=["environment", "-started_at"], name="alertepisode_recent")]

    def __str__(self):
        state = "open" if self.resolved_at is None else "resolved"
        return f"{self.environment.slug} {self.severity} {self.slo} ({state})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class SloMonth(models.Model):
    """One service's SLO figures for one calendar month (UTC), kept for good: the
    12-month compliance table reads these, long after the hourly samples are pruned."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="slo_months"
    )
    service = models.CharField(max_length=63)
    month = models.DateField(help_text="First day of the month.")
    requests = models.PositiveBigIntegerField(default=0)
    errors_5xx = models.PositiveBigIntegerField(default=0)
    latency_buckets = models.PositiveIntegerField(
        default=0, help_text="Hours with traffic and a P95."
    )
    latency_good_buckets = models.PositiveIntegerField(
        default=0, help_text="Of those, hours whose P95 was within the SLO."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["environment", "-month", "service"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "service", "month"], name="slomonth_unique"
            ),
        ]

    def __str__(self):
        return f"{self.environment.slug}/{self.service} {self.month:%Y-%m}"
