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

    def replace_window(self, environment, resolution: str, start, end, rows) -> None:
        """The samples of [start, end) become exactly `rows`: re-sampling a window
        replaces it, never doubles it. Call inside a transaction."""
        if end <= start:
            return
        self.window(environment, resolution, start, end).delete()
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
    """

    environment = models.OneToOneField(
        Environment, on_delete=models.CASCADE, related_name="health_collection"
    )
    minutes_from = models.DateTimeField(null=True, blank=True)
    minutes_until = models.DateTimeField(null=True, blank=True)
    hours_until = models.DateTimeField(null=True, blank=True)
    sampled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Why the last pass failed, if it did.")

    def __str__(self):
        return f"health collection of {self.environment.slug}"

    def minutes_cover(self, start, end) -> bool:
        """True when minute samples exist for the whole of [start, end)."""
        if self.minutes_from is None or self.minutes_until is None:
            return False
        return self.minutes_from <= start and end <= self.minutes_until


class LiveService(models.Model):
    """What one Cloud Run service serves now, as Cloud Run last reported it: the split
    (revisions with percent and tags), the template image, the newest ready revision.

    One row per service, replaced at every pass; `observed_at` is the data's age.
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
