from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from deployments.errors import DeploymentError
from deployments.models import TokenScope
from deployments.tokens import DEFAULT_DAYS, TokenRequest, create_token


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME and print it once (only its hash is stored). "
        "It may do what the user's roles and its own scopes and environments allow."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--name", required=True, help="What the token is for, e.g. 'github-actions staging'."
        )
        parser.add_argument(
            "--days", type=int, default=DEFAULT_DAYS, help=f"lifetime (default {DEFAULT_DAYS})"
        )
        parser.add_argument(
            "--scope",
            action="append",
            choices=TokenScope.values,
            help="what it may do; repeat for several (default: all)",
        )
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="no scope: it only reads (costs, releases, rollouts, health)",
        )
        parser.add_argument(
            "--environment",
            action="append",
            default=[],
            help="an environment it may act on; repeat for several (default: all)",
        )

    def handle(self, *args, username, name, days, scope, environment, read_only, **options):
        if read_only and scope:
            raise CommandError("--read-only gives the token no scope: leave out --scope.")
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        request = TokenRequest(
            name=name,
            days=days,
            scopes=() if read_only else tuple(scope or TokenScope.values),
            environments=tuple(environment),
        )
        try:
            token = create_token(user, request, actor="manage.py")
        except DeploymentError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(token)
        self.stderr.write(
            f"Token {name!r} for {username} created, valid {days} day{'' if days == 1 else 's'}. "
            "It is shown only now: store it in your CI secrets."
        )
