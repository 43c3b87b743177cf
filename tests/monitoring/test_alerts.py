"""Burn-rate alerts: multi-window, multi-burn-rate rules as in the SRE workbook, one
episode per rule firing, Slack and the audit trail told once when it opens and once when
it resolves, and a low-traffic guard.

The sandbox test samples with the real collector at chosen moments in the past (as
tests/monitoring/test_collect.py does): a faulty image's 5 % errors against production's
99.9 % target burn the budget 50× faster than allowed.
"""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
import time
from datetime import UTC, datetime, timedelta

from django.core.management import call_command

from monitoring import alerts, collect
from monitoring.collect import HOUR, floor_to
from monitoring.jobs import sample_health
from monitoring.models import AlertEpisode, Collection, HealthSample
from platform_admin.gcp_run import get_service
from platform_admin.models import AuditEvent
from tests.deployments.conftest import (  # noqa: F401
    gcp,
    redis_conn,
    sandbox_server,
    slack,
    wait_for,
    worker,
)

NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)


def _api_episodes(env):
    return AlertEpisode.objects.filter(environment=env, service="api-server")


def test_a_faulty_revision_pages_once_and_resolves_once_its_errors_stop(
    worker, gcp, production, slack
):
    image = get_service(production.gcp_project, production.region, "api-server").image
    gcp.fault(project=production.gcp_project, service="api-server", image=image, error_rate=0.05)
    first = floor_to(datetime.now(UTC), HOUR) - timedelta(minutes=90) + timedelta(seconds=7)

    collect.sample_environment(production, first)  # minutes of this hour + 30 days of hours
    alerts.evaluate(first)
    for minute in (1, 2):  # the rules keep firing: the same episodes, nothing new posted
        later = first + timedelta(minutes=minute)
        collect.sample_environment(production, later)
        alerts.evaluate(later)

    opened = {e.severity: e for e in _api_episodes(production)}
    assert set(opened) == {"page", "ticket"}
    assert opened["page"].rule == "burn rate > 14.4 over 1h and 5m"
    assert opened["page"].burn_rates["5m"] > 14.4 and opened["page"].started_at == first
    assert all(e.is_open for e in opened.values())

    gcp.fault(project=production.gcp_project, service="api-server", image=image, error_rate=0.0)
    after = first + timedelta(minutes=40)
    collect.sample_environment(production, after)
    changes = alerts.evaluate(after)

    page, ticket = (_api_episodes(production).get(severity=s) for s in ("page", "ticket"))
    assert page.resolved_at == after and [c.opened for c in changes if c.episode == page] == [False]
    # The last 6 hours still hold the faulty hours: the slow burn stays a ticket.
    assert ticket.is_open

    def about_api():
        return [m for m in slack if "production/api-server" in m]

    wait_for(lambda: len(about_api()) >= 3, 15, what="three Slack messages")
    texts = about_api()
    assert len(texts) == 3
    assert sum("page — burn rate > 14.4" in t for t in texts) == 1
    assert sum("ticket — burn rate > 1 over 3d and 6h" in t for t in texts) == 1
    assert sum("page resolved" in t for t in texts) == 1
    assert all("/health/production/" in t or "/production" in t for t in texts)
    audited = AuditEvent.objects.filter(detail__service="api-server", environment="production")
    assert sorted(audited.values_list("action", flat=True)) == [
        "health.alert_opened",
        "health.alert_opened",
        "health.alert_resolved",
    ]


def _seed(env, *, hours_bad: int, minutes_bad: int, requests=1000, now=NOW) -> None:
    """Three days of hours (`requests`, `hours_bad` of them 5xx, each) and the last
    hour in minutes (`requests` / 60 a minute; `minutes_bad` 5xx in each of the last 30)."""
    rows = [
        HealthSample(
            environment=env,
            resolution="hour",
            time=floor_to(now, HOUR) - timedelta(hours=h),
            service="api-server",
            revision="api-server-00001",
            requests=requests,
            errors_5xx=hours_bad,
        )
        for h in range(1, 73)
    ]
    start = now.replace(second=0) - timedelta(minutes=60)
    rows += [
        HealthSample(
            environment=env,
            resolution="minute",
            time=start + timedelta(minutes=m),
            service="api-server",
            revision="api-server-00001",
            requests=requests // 60,
            errors_5xx=minutes_bad if m >= 30 else 0,
        )
        for m in range(60)
    ]
    HealthSample.objects.bulk_create(rows)
    Collection.objects.update_or_create(
        environment=env,
        defaults=dict(
            minutes_from=start,
            minutes_until=now.replace(second=0),
            hours_until=floor_to(now, HOUR),
            sampled_at=now,
        ),
    )


def test_a_slow_burn_opens_a_ticket_not_a_page_and_resolves_when_it_stops(production):
    # 3 bad in 1 000 against a 0.1 % budget: burn rate 3, over 1 for 3 days and 6 hours.
    _seed(production, hours_bad=3, minutes_bad=0)

    opened = alerts.evaluate(NOW)

    assert [(c.episode.severity, c.opened) for c in opened] == [("ticket", True)]
    assert alerts.evaluate(NOW + timedelta(seconds=30)) == []

    HealthSample.objects.filter(resolution="hour").update(errors_5xx=0)
    resolved = alerts.evaluate(NOW + timedelta(seconds=40))

    assert [(c.episode.severity, c.opened) for c in resolved] == [("ticket", False)]
    assert AlertEpisode.objects.get().resolved_at == NOW + timedelta(seconds=40)


def test_one_failed_request_out_of_two_never_pages(production):
    _seed(production, hours_bad=1, minutes_bad=1, requests=120)  # 2 requests a minute

    assert alerts.evaluate(NOW) == []
    assert not AlertEpisode.objects.exists()


def test_enough_bad_requests_at_the_same_low_rate_do_page(production, settings):
    settings.HEALTH_ALERT_MIN_BAD_REQUESTS = 5
    _seed(production, hours_bad=1, minutes_bad=1, requests=120)

    opened = alerts.evaluate(NOW)

    assert "page" in {c.episode.severity for c in opened}


def test_stale_data_neither_opens_nor_resolves(production):
    _seed(production, hours_bad=3, minutes_bad=0)
    alerts.evaluate(NOW)
    HealthSample.objects.filter(resolution="hour").update(errors_5xx=0)

    assert alerts.evaluate(NOW + timedelta(minutes=10)) == []
    assert AlertEpisode.objects.get().is_open


def test_the_sampling_job_evaluates_alerts_after_collecting(gcp, production):
    image = get_service(production.gcp_project, production.region, "api-server").image
    gcp.fault(project=production.gcp_project, service="api-server", image=image, error_rate=0.05)
    moment = floor_to(datetime.now(UTC), HOUR) - timedelta(minutes=30) + timedelta(seconds=7)

    sample_health(moment)

    assert _api_episodes(production).filter(severity="page", resolved_at=None).exists()


def test_evaluation_reads_a_fixed_number_of_queries_per_environment(
    staging, production, django_assert_max_num_queries
):
    for env in (staging, production):
        _seed(env, hours_bad=0, minutes_bad=0)

    with django_assert_max_num_queries(1 + 2 * 4):  # environments, then 4 per environment
        assert alerts.evaluate(NOW) == []


def test_the_command_collects_and_pages_like_the_job(gcp, production, capsys):
    image = get_service(production.gcp_project, production.region, "api-server").image
    gcp.fault(project=production.gcp_project, service="api-server", image=image, error_rate=0.05)

    if datetime.now(UTC).minute == 0:  # a first pass reads this hour's minutes: have one
        time.sleep(61 - datetime.now(UTC).second)
    call_command("sample_health", "--backfill-days", "1")

    assert "production: ok" in capsys.readouterr().out
    assert _api_episodes(production).filter(severity="page", resolved_at=None).exists()
