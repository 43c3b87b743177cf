from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from deployments.tokens import create_token


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for, e.g. 'github-ci'.")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        token = create_token(user, name=name, actor="manage.py")
        self.stdout.write(token)
        self.stderr.write(
            f"Token for {username} created. It is shown only now: store it in your CI secrets."
        )
