"""The Health pages and the health JSON: what a person reads at a glance, from the
database only (Google unreachable), with the data's age, and a query count that does not
grow with history."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments import services
from deployments.tokens import create_token
from monitoring import collect
from monitoring.collect import HOUR, MINUTE, floor_to
from monitoring.models import Collection, HealthSample, LiveService
from platform_admin.gcp_run import get_service
from tests.deployments.conftest import api_caller, gcp, sandbox_server  # noqa: F401


@pytest.fixture
def google_unreachable(settings):
    """After collecting: every Google endpoint points at a closed port."""

    def cut():
        settings.GCP_API_ENDPOINT = "http://127.0.0.1:9"
        settings.GCP_GRPC_ENDPOINT = "127.0.0.1:9"

    return cut


def _collect_faulty(gcp, env):
    """Collect an hour and a half of a 5 %-faulty api-server through the real collector."""
    image = get_service(env.gcp_project, env.region, "api-server").image
    gcp.fault(project=env.gcp_project, service="api-server", image=image, error_rate=0.05)
    now = timezone.now()
    collect.sample_environment(env, floor_to(now, HOUR) - timedelta(minutes=90))
    collect.sample_environment(env, now)
    return image


def test_environment_page_shows_split_rates_and_the_faulty_error_rate_with_google_down(
    client, alice, gcp, production, google_unreachable
):
    _collect_faulty(gcp, production)
    google_unreachable()
    client.force_login(alice)

    page = client.get("/health/production/").content.decode()

    api = page.split('data-service="api-server"')[1].split("</section>")[0]
    assert "100%" in api and "api-server-00001" in api  # the live split
    assert "above SLO line" in api  # 5 % against production's 0.5 % limit
    assert "<svg" in api and "Error rate (5xx)" in api  # server-rendered charts
    realtime = page.split('data-service="realtime"')[1].split("</section>")[0]
    assert "above SLO line" not in realtime
    assert "Data sampled" in page and "stale" not in page.split("Data sampled")[1][:200]
    assert "SLO compliance, month by month" in page


def test_pages_say_how_old_the_data_is_and_mark_it_stale(client, alice, production):
    Collection.objects.create(
        environment=production, sampled_at=timezone.now() - timedelta(minutes=20)
    )
    client.force_login(alice)

    page = client.get("/health/production/").content.decode()

    assert "Data sampled 20" in page and "stale: no sample for more than three" in page
    overview = client.get("/health/").content.decode()
    assert 'data-status="stale"' in overview.split('data-environment="production"')[1]


def _history(env, days: int) -> None:
    now = floor_to(timezone.now(), HOUR)
    rows = [
        HealthSample(
            environment=env,
            resolution="hour",
            time=now - timedelta(hours=h),
            service=service,
            revision=f"{service}-00001",
            requests=3600,
            errors_5xx=2,
            p95_ms=100.0,
        )
        for h in range(1, days * 24)
        for service in ("api-server", "realtime")
    ]
    HealthSample.objects.bulk_create(rows)
    Collection.objects.update_or_create(
        environment=env,
        defaults={"sampled_at": timezone.now(), "hours_until": now},
    )
    for service in ("api-server", "realtime"):
        LiveService.objects.update_or_create(
            environment=env,
            service=service,
            defaults={
                "traffic": [{"revision": f"{service}-00001", "percent": 100, "tag": ""}],
                "observed_at": timezone.now(),
                "latest_ready_revision": f"{service}-00001",
            },
        )


@pytest.mark.parametrize("path", ["/health/staging/", "/health/staging/api-server/?window=30d"])
def test_page_query_count_does_not_grow_with_history(
    client, alice, staging, path, django_assert_num_queries
):
    client.force_login(alice)
    _history(staging, 2)
    with CaptureQueriesContext(connection) as short:
        assert client.get(path).status_code == 200
    HealthSample.objects.all().delete()
    _history(staging, 90)
    cache.clear()  # the environment page's content is reused within a pass: measure a build
    with django_assert_num_queries(len(short.captured_queries)):
        response = client.get(path)
    assert "api-server" in response.content.decode()


def test_service_page_windows_and_unknown_service(client, alice, staging):
    _history(staging, 8)
    client.force_login(alice)
    for window in ("1h", "24h", "7d", "30d"):
        page = client.get(f"/health/staging/api-server/?window={window}").content.decode()
        assert f"<h2>Last {window}</h2>" in page
    assert client.get("/health/staging/no-such-service/").status_code == 404
    assert client.get("/health/nowhere/").status_code == 404


def test_health_json_for_ci(client, alice, gcp, production, google_unreachable):
    image = _collect_faulty(gcp, production)
    services.create_release(alice, "7.0.0", {"api-server": image})
    google_unreachable()
    call = api_caller(client, create_token(alice, "ci"))

    body = call("get", "/environments/production/health").json()

    assert body["environment"] == "production" and body["as_of"]
    api = body["services"]["api-server"]
    assert api["kind"] == "cloud_run" and api["live"][0]["percent"] == 100
    assert api["live"][0]["release"] == "7.0.0" and api["live"][0]["image"] == image
    assert api["error_rate"] > 0.02 and api["status"] in ("burning budget", "SLO breached")
    assert api["slo"] == {"p95_ms": production.slo_p95_ms, "uptime": float(production.slo_uptime)}
    assert set(api["burn_rate"]) == {"1h", "6h"}
    assert call("get", "/environments/nowhere/health").status_code == 404
    assert call("get", "/environments/nowhere/health").json()["message"]
    assert client.get("/api/v1/environments/production/health").status_code == 401


def test_health_page_marks_rollouts_on_the_charts(client, alice, staging, make_release):
    _history(staging, 2)
    services.start_rollout(alice, make_release("6.0.0"), staging, "canary")
    client.force_login(alice)

    page = client.get("/health/staging/").content.decode()

    assert 'class="chart-mark"' in page and "6.0.0 started by alice" in page


def test_charts_escape_labels_and_describe_the_threshold():
    from platform_admin.charts import Mark, line_chart

    start = datetime(2026, 12, 1, tzinfo=UTC)
    svg = line_chart(
        [(start + timedelta(hours=i), v) for i, v in enumerate([0.001, None, 0.02])],
        start=start,
        end=start + timedelta(hours=3),
        title="<b>errors</b>",
        threshold=0.005,
        threshold_label="SLO",
        marks=[Mark(start + timedelta(hours=1), "1.0 <script>")],
        y_format=lambda v: f"{v * 100:.1f}%",
    )
    assert "<b>" not in svg and "<script>" not in svg
    assert "Last 2.0%, highest 2.0%; SLO 0.5%, 1 of 2 points above it." in svg
    assert svg.count(" M") + svg.count('d="M') == 2  # the None breaks the line


def test_a_faulty_canary_shows_above_the_line_while_its_service_stays_under(
    client, alice, production
):
    end = floor_to(timezone.now(), MINUTE)
    start = end - timedelta(minutes=10)
    split = {"api-server-00001": (95, 0.001), "api-server-canary": (5, 0.05)}
    HealthSample.objects.bulk_create(
        HealthSample(
            environment=production,
            resolution="minute",
            time=start + timedelta(minutes=m),
            service="api-server",
            revision=revision,
            requests=share * 240,
            errors_5xx=round(share * 240 * rate),
            p95_ms=100.0,
        )
        for m in range(10)
        for revision, (share, rate) in split.items()
    )
    Collection.objects.create(
        environment=production,
        sampled_at=timezone.now(),
        minutes_from=start,
        minutes_until=end,
        hours_until=floor_to(end, HOUR),
    )
    LiveService.objects.create(
        environment=production,
        service="api-server",
        traffic=[
            {"revision": "api-server-00001", "percent": 95, "tag": ""},
            {"revision": "api-server-canary", "percent": 5, "tag": "canary"},
        ],
        latest_ready_revision="api-server-canary",
        observed_at=timezone.now(),
    )
    client.force_login(alice)

    page = client.get("/health/production/").content.decode()

    api = page.split('data-service="api-server"')[1].split("</section>")[0]
    stable, canary = api.split("<code>api-server-00001</code>")[1].split("api-server-canary")
    assert "errors 0.10%" in stable and "above SLO line" not in stable.split("</div>")[0]
    assert "errors 5.00%" in canary and "above SLO line" in canary.split("</div>")[0]
    # The service as a whole: 95·0.1 % + 5·5 % ≈ 0.35 %, under production's 0.5 % line.
    figures = api.split('class="error-rate"')[1].split("</td>")[0]
    assert "above SLO line" not in figures


def test_the_environment_page_is_built_once_per_pass_and_rebuilt_after_a_change(
    client, alice, staging, make_release
):
    _history(staging, 2)
    client.force_login(alice)

    def content():  # the page without the per-request CSRF token of the logout form
        return client.get("/health/staging/").content.decode().split("<h1>", 1)[1]

    with CaptureQueriesContext(connection) as built:
        first = content()
    with CaptureQueriesContext(connection) as reused:
        assert content() == first
    assert len(reused.captured_queries) < len(built.captured_queries) / 2

    LiveService.objects.filter(service="api-server").update(
        traffic=[{"revision": "api-server-00002", "percent": 100, "tag": ""}]
    )
    assert "api-server-00002" not in client.get("/health/staging/").content.decode()
    Collection.objects.filter(environment=staging).update(generation=F("generation") + 1)
    assert "api-server-00002" in client.get("/health/staging/").content.decode()  # a new pass

    services.start_rollout(alice, make_release("6.1.0"), staging, "canary")  # audited
    assert "6.1.0 started by alice" in client.get("/health/staging/").content.decode()
