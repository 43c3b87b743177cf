"""`python manage.py sample_health [--backfill-days N]`: one collection pass by hand, and
the burn-rate alerts over it (what the periodic job does)."""

from django.core.management.base import BaseCommand, CommandError

from monitoring import collect, jobs


class Command(BaseCommand):
    help = "Collect health samples from Cloud Monitoring for every environment now."

    def add_arguments(self, parser):
        parser.add_argument(
            "--backfill-days",
            type=int,
            default=collect.BACKFILL_DAYS,
            help="How far back a first run (or a run after a gap) fills hourly samples.",
        )

    def handle(self, *args, backfill_days: int, **options):
        if not 0 <= backfill_days <= collect.RETENTION_DAYS_HOURLY:
            raise CommandError(
                f"--backfill-days must be between 0 and {collect.RETENTION_DAYS_HOURLY}"
            )
        outcome = jobs.sample_health(backfill_days=backfill_days)
        for slug, result in outcome.items():
            self.stdout.write(f"{slug}: {result}")
        if any(result != "ok" for result in outcome.values()):
            raise CommandError("sampling failed for some environments (see above)")
