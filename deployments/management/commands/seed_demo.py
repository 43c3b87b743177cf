import hashlib
import secrets
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from platform_admin import audit
from platform_admin.models import Environment, Role
from platform_admin.platform_file import PlatformFileError, load_platform
from platform_admin.services import grant_role
from platform_admin.sync import sync_platform

# (username, [(role, environment slug or None for all)], is_superuser)
DEMO_USERS = [
    ("alice", [(Role.DEPLOYER, "staging"), (Role.DEPLOYER, "production")], False),
    ("bob", [(Role.APPROVER, "production"), (Role.DEPLOYER, "staging")], False),
    ("carol", [(Role.FINANCE, None)], False),
    ("admin", [(Role.ADMIN, None)], True),
]


# (version, notes, {service: what the sandbox makes of its image's tag suffix})
DEMO_RELEASES = [
    ("1.5.0", "Faster room joins; LiveKit 1.8", {}),
    (
        "1.5.1",
        "Retry tweaks (its api-server image is faulty: watch the canary roll back)",
        {"api-server": "faulty"},
    ),
    (
        "1.5.2",
        "Room history (its migration fails: watch the rollout stop before any traffic moves)",
        {"api-server": "migration-fails"},
    ),
    (
        "1.5.3",
        "Agent without prompt caching (its agent costs twice as much per request: it passes "
        "staging, deployed all at once, and production's canary rolls it back on cost)",
        {"agent": "costly"},
    ),
    (
        "1.6.0",
        "Larger agent models (the agent's memory 8 GiB: its deploy and approval pages show "
        "what that adds to the monthly bill)",
        {},
    ),
]
# A release's Cloud Run resources, where it changes them.
DEMO_RESOURCES = {"1.6.0": {"agent": {"memory_gib": 8}}}


def _demo_image(service: str, version: str, suffix: str = "") -> str:
    tag = f"{version}-{suffix}" if suffix else version
    digest = hashlib.sha256(f"{service}:{tag}".encode()).hexdigest()
    return f"us-docker.pkg.dev/acme-shared/app/{service}:{tag}@sha256:{digest}"


class Command(BaseCommand):
    help = "Load platform.example.toml and create the demo users (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--platform", default=str(settings.BASE_DIR / "platform.example.toml"))
        parser.add_argument(
            "--password", help="use this password for every demo user (default: random)"
        )
        parser.add_argument(
            "--bake-seconds",
            type=int,
            default=15,
            help="canary bake time for the demo (the platform file's real values are minutes)",
        )

    def handle(self, *args, platform, password, bake_seconds, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates users with known passwords: run it with DEBUG=1.")
        try:
            spec = load_platform(Path(platform))
        except PlatformFileError as exc:
            raise CommandError(str(exc)) from exc
        with transaction.atomic():
            report = sync_platform(spec, actor="seed_demo")
            self._demo_bake_times(bake_seconds)
            credentials = self._users(password)
            self._demo_releases()
        self.stdout.write(f"platform: {len(report.created)} created, {len(report.updated)} updated")
        for username, secret in credentials:
            shown = secret if secret else "(unchanged; pass --password to reset)"
            self.stdout.write(f"  {username:<6} {shown}")
        if settings.GCP_API_ENDPOINT:  # the sandbox (make run), never real Google from here
            self._demo_prices()
            self._demo_billing()

    def _demo_prices(self) -> None:
        """The list prices the estimates use, from the sandbox's catalog."""
        from costs import prices
        from platform_admin import gcp

        try:
            record = prices.refresh(actor="seed_demo")
        except gcp.GcpError as exc:
            self.stderr.write(f"demo: price refresh failed: {exc}")
            return
        self.stdout.write(f"demo: {len(record.skus)} list prices from the catalog")

    def _demo_billing(self) -> None:
        """A year of costs on first start: the last 12 invoice months and the current one
        to date, through the BigQuery pull (the sandbox's export table); on a later start,
        the months of them no source holds (a first start interrupted)."""
        from costs import pull
        from costs.models import ImportStatus, InvoiceMonth
        from platform_admin import gcp

        today = pull.today()
        first = date(today.year - 1, today.month, 1)
        months = []
        while first <= today:
            months.append(f"{first:%Y-%m}")
            first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        held = set(InvoiceMonth.objects.values_list("month", flat=True))
        for month in [m for m in months if m not in held]:  # a first start cut short too
            try:
                record = pull.pull_month(month, actor="seed_demo")
            except gcp.GcpError as exc:
                self.stderr.write(f"demo: billing pull of {month} failed: {exc}")
                return
            if record.status == ImportStatus.SUCCEEDED:
                net = record.months[month]["after"]
                self.stdout.write(
                    f"demo: costs of {month} pulled ({record.rows_read} rows, net {net})"
                )
            else:
                self.stderr.write(f"demo: billing pull of {month}: {record.message}")

    def _demo_releases(self) -> None:
        """1.5.0 healthy; 1.5.1's api-server is tagged -faulty (5% errors in the sandbox);
        1.5.2's api-server fails its migration."""
        from deployments.models import Release
        from deployments.services import create_release

        admin = get_user_model().objects.get(username="admin")
        for version, notes, suffixes in DEMO_RELEASES:
            if Release.objects.filter(version=version).exists():
                continue
            artifacts = {
                name: _demo_image(name, version, suffixes.get(name, ""))
                for name in ("api-server", "realtime", "agent", "livekit")
            }
            # The frontend's build: the sandbox holds one under any builds/VERSION/ prefix.
            artifacts["frontend"] = f"gs://acme-builds/frontend/builds/{version}/"
            create_release(
                admin, version, artifacts, notes=notes, resources=DEMO_RESOURCES.get(version)
            )
            self.stdout.write(f"demo: release {version} ({notes})")

    def _demo_bake_times(self, seconds: int) -> None:
        """Short bakes (and verifications) so a demo canary finishes in about a minute;
        audited like any change."""
        for env in Environment.objects.all():
            changes = {
                name: [getattr(env, name), seconds]
                for name in ("bake_seconds", "verify_seconds")
                if getattr(env, name) != seconds
            }
            if not changes:
                continue
            for name in changes:
                setattr(env, name, seconds)
            env.save(update_fields=list(changes))
            audit.record(
                "platform.environment.updated",
                actor="seed_demo",
                obj=env,
                environment=env.slug,
                detail={"changes": changes, "reason": "demo"},
            )
            for name, (old, new) in changes.items():
                what = "canary bake time" if name == "bake_seconds" else "verification"
                self.stdout.write(f"demo: {env.slug} {what} {old} s -> {new} s")

    def _users(self, password: str | None) -> list[tuple[str, str | None]]:
        User = get_user_model()
        admin = None
        out = []
        for username, _grants, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_superuser": superuser, "is_staff": superuser},
            )
            secret = None
            if created or password:
                secret = password or secrets.token_urlsafe(9)
                user.set_password(secret)
                user.save()
                detail = {"user": username}
                audit.record(
                    "user.created" if created else "user.updated",
                    actor="seed_demo",
                    obj=user,
                    detail=detail
                    | ({"password": "set"} if created else {"changes": {"password": "changed"}}),
                )
            if superuser:
                admin = user
            out.append((username, secret))
        for username, grants, _ in DEMO_USERS:
            user = User.objects.get(username=username)
            for role, slug in grants:
                env = Environment.objects.get(slug=slug) if slug else None
                grant_role(admin, user, role, env)
        return out
