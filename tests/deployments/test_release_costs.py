"""A release's page after it went live: each environment's cost per day in the week
before against the week after (from the daily rollups), and its month."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costs.importer import import_file
from deployments.models import Rollout, RolloutState
from tests.costs.conftest import export_row, write_export  # noqa: F401 - a fixture by name

pytestmark = pytest.mark.django_db


def _day(day: int, cost: str, env: str = "staging") -> dict:
    return export_row(
        cost,
        project=f"acme-{env}",
        labels={"env": env, "app": "api-server"},
        start=f"2026-10-{day:02d} 12:00:00 UTC",  # 05:00 the same day in US/Pacific
    )


def test_the_release_page_compares_the_week_before_and_after_it_went_live(
    client,
    alice,
    staging,
    make_release,
    write_export,  # noqa: F811
):
    # $10 a day until Oct 10, $15 a day after; Oct 10 itself (the day it went live) $40.
    rows = [_day(d, "10.00") for d in range(1, 10)] + [_day(10, "40.00")]
    rows += [_day(d, "15.00") for d in range(11, 21)]
    assert import_file(write_export(rows), actor="test").status == "succeeded"
    release = make_release("3.0.0")
    Rollout.objects.create(
        release=release,
        environment=staging,
        started_by=alice,
        state=RolloutState.SUCCEEDED,
        finished_at=datetime(2026, 10, 10, 19, 0, tzinfo=UTC),  # noon in US/Pacific
    )
    client.force_login(alice)

    page = client.get("/deployments/releases/3.0.0/").content.decode()

    assert '<td class="before">10.00</td>' in page
    assert '<td class="after">15.00</td>' in page
    assert '<td class="change">50.0%</td>' in page
    total = 9 * Decimal(10) + 40 + 10 * 15
    assert f"2026-10: {total:,.2f}" in page


def test_a_release_not_live_anywhere_shows_no_costs(client, alice, staging, make_release):
    make_release("3.1.0")
    client.force_login(alice)

    page = client.get("/deployments/releases/3.1.0/").content.decode()

    assert "Cost since it went live" not in page
