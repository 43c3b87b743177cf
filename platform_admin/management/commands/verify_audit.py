import sys

from django.core.management.base import BaseCommand

from platform_admin.audit import verify_chain


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; exit 1 naming the first broken event."

    def handle(self, *args, **options):
        report = verify_chain()
        if report.intact:
            self.stdout.write(f"{report.count} events, chain intact")
            return
        event = report.first_broken
        self.stderr.write(
            f"chain broken at event #{event.pk} ({event.created_at:%Y-%m-%d %H:%M:%S} "
            f"{event.actor} {event.action}): {report.reason}"
        )
        sys.exit(1)
