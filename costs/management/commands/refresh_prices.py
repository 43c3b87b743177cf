"""`python manage.py refresh_prices`."""

from django.core.management.base import BaseCommand, CommandError

from costs import prices
from platform_admin import gcp


class Command(BaseCommand):
    help = (
        "Read the list prices the estimator uses from the Cloud Billing Catalog API into a "
        "new price snapshot (the daily job does the same)."
    )

    def handle(self, *args, **options):
        try:
            record = prices.refresh(actor="cli")
        except gcp.GcpError as exc:
            raise CommandError(f"Cloud Billing Catalog: {exc}") from exc
        self.stdout.write(
            f"price snapshot {record.pk}: {len(record.skus)} SKUs ({record.currency})"
        )
        if record.missing:
            self.stderr.write("no SKU in the catalog for: " + ", ".join(record.missing))
