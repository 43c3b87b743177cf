from django.core.management.base import BaseCommand, CommandError
from django.db import DataError

from platform_admin.platform_file import PlatformFileError, load_platform
from platform_admin.sync import sync_platform


class Command(BaseCommand):
    help = "Create or update environments and services from a platform file (TOML)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to the platform file, e.g. platform.example.toml")

    def handle(self, *args, file, **options):
        try:
            spec = load_platform(file)
            report = sync_platform(spec, actor="sync_platform")  # an app's part may refuse
        except PlatformFileError as exc:
            raise CommandError(f"refused, nothing changed: {exc}") from exc
        except DataError as exc:
            # The schema should refuse every value a column cannot hold; should one slip
            # through, the sync's transaction has rolled back: say so, not a traceback.
            raise CommandError(
                f"refused, nothing changed: {file}: the database refused a value: {exc}"
            ) from exc
        for line in report.lines():
            self.stdout.write(line)
        summary = (
            f"{len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.not_in_file)} not in file"
        )
        self.stdout.write(self.style.SUCCESS(summary) if report.changed else summary)
