"""`python manage.py estimate --env SLUG [--format table|json]`."""

import json

from django.core.management.base import BaseCommand, CommandError

from costs import prices
from costs.estimate import amount, estimate_of
from costs.plan import gaps
from platform_admin.models import Environment


def as_json(est) -> dict:
    snapshot = est.snapshot
    return {
        "environment": est.environment.slug,
        "currency": snapshot.currency,
        "snapshot": {
            "id": snapshot.record.pk,
            "taken_at": snapshot.record.taken_at.isoformat(),
            "stale": snapshot.stale,
        },
        "low": amount(est.low),
        "high": amount(est.high),
        "components": {
            c.name: {
                "kind": c.kind,
                "low": amount(c.low),
                "high": amount(c.high),
                "problem": c.problem,
                "lines": [
                    {"text": line.text, "low": amount(line.low), "high": amount(line.high)}
                    for line in c.lines
                ],
            }
            for c in est.components
        },
        "gaps": gaps(est, None, closed=False),
    }


class Command(BaseCommand):
    help = (
        "Print an environment's monthly cost estimate from the newest price snapshot: each "
        "component's low–high range and how it was computed, one line per SKU."
    )

    def add_arguments(self, parser):
        parser.add_argument("--env", required=True, help="Environment slug.")
        parser.add_argument("--format", choices=["table", "json"], default="table")

    def handle(self, *args, env, format, **options):
        snapshot = prices.latest()
        if snapshot is None:
            raise CommandError("no price snapshot yet: run python manage.py refresh_prices")
        environment = Environment.objects.filter(slug=env).first()
        if environment is None:
            raise CommandError(f"no environment {env!r}")
        est = estimate_of(environment, snapshot)
        if format == "json":
            self.stdout.write(json.dumps(as_json(est), indent=2))
            return
        taken = f"{snapshot.record.taken_at:%Y-%m-%d %H:%M} UTC"
        stale = (
            f" — older than {prices.STALE_AFTER.days} days, refresh it" if snapshot.stale else ""
        )
        self.stdout.write(
            f"{est.environment.name}: {amount(est.low)}–{amount(est.high)} {snapshot.currency} "
            f"a month (prices of {taken}, snapshot {snapshot.record.pk}{stale})"
        )
        for c in est.components:
            self.stdout.write(f"\n{c.name} ({c.kind}): {amount(c.low)}–{amount(c.high)}")
            if c.problem:
                self.stdout.write(f"  not estimated: {c.problem}")
            for line in c.lines:
                self.stdout.write(f"  {line.text}")
        for gap in gaps(est, None, closed=False):
            self.stdout.write(f"\ngap: {gap}")
