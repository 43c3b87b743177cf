"""The client factory and error mapping: retries, permission hints, unavailability."""

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.api_core import exceptions as gexc

from platform_admin import gcp
from platform_admin.gcp_compute import get_instance
from platform_admin.gcp_monitoring import service_metrics
from platform_admin.gcp_run import get_service
from tests.platform_admin.conftest import PROD, REGION, STAGING, ZONE

SERVICE_PATH = r"/v2/projects/acme-prod/locations/us-central1/services/api-server$"


def test_clients_are_built_once_per_process(gcp_sandbox):
    assert gcp.run_services_client() is gcp.run_services_client()
    assert gcp.bigquery_client(STAGING) is not gcp.bigquery_client(PROD)


def test_reset_clients_points_the_adapters_at_a_new_endpoint(gcp_sandbox, settings):
    assert get_instance(STAGING, ZONE, "livekit").status == "RUNNING"
    settings.GCP_API_ENDPOINT = "http://127.0.0.1:9"  # nothing listens there
    settings.GCP_TIMEOUT_SECONDS = 1

    gcp.reset_clients()

    with pytest.raises(gcp.GcpUnavailable, match="reading VM livekit"):
        get_instance(STAGING, ZONE, "livekit")


@pytest.fixture
def proxy():
    """An HTTP proxy stand-in on 127.0.0.1: records each request line, answers 403."""
    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.requestline)
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_rest_clients_go_through_the_proxy_the_environment_names(gcp_sandbox, proxy, monkeypatch):
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    gcp.reset_clients()

    with pytest.raises(gcp.GcpPermissionDenied):
        get_instance(STAGING, ZONE, "livekit")  # Compute Engine: a REST client

    assert len(seen) == 1
    assert seen[0].startswith(f"GET {gcp_sandbox.http_url}/compute/v1/projects/{STAGING}/")


def test_no_proxy_sends_rest_clients_straight_to_the_endpoint(gcp_sandbox, proxy, monkeypatch):
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    gcp.reset_clients()

    assert get_instance(STAGING, ZONE, "livekit").status == "RUNNING"
    assert seen == []


def test_a_short_burst_of_503s_is_retried_away(gcp_sandbox):
    gcp_sandbox.api_fault(method="GET", path_regex=SERVICE_PATH, status=503, times=2)

    state = get_service(PROD, REGION, "api-server")

    assert state.name == "api-server"
    gets = [r for r in gcp_sandbox.requests() if r["path"].endswith("/services/api-server")]
    assert [r["status"] for r in gets] == [503, 503, 200]


def test_a_lasting_outage_raises_unavailable_once_retries_run_out(gcp_sandbox, settings):
    settings.GCP_TIMEOUT_SECONDS = 2  # the retry deadline follows the call timeout
    gcp_sandbox.api_fault(method="GET", path_regex=SERVICE_PATH, status=503, times=20)

    with pytest.raises(gcp.GcpUnavailable) as outage:
        get_service(PROD, REGION, "api-server")

    assert outage.value.retryable
    assert "acme-prod" in outage.value.message and "api-server" in outage.value.message


def test_rate_limiting_is_retried_too(gcp_sandbox):
    gcp_sandbox.api_fault(method="GET", path_regex="/instances/livekit$", status=429, times=1)

    assert get_instance(STAGING, ZONE, "livekit").status == "RUNNING"


def test_permission_denied_on_cloud_run_names_the_role(gcp_sandbox):
    gcp_sandbox.api_fault(method="GET", path_regex=SERVICE_PATH, status=403, times=1)

    with pytest.raises(gcp.GcpPermissionDenied) as denied:
        get_service(PROD, REGION, "api-server")

    assert denied.value.message.startswith(
        "permission denied on project acme-prod while reading Cloud Run service api-server: "
        "the deployer service account needs roles/run.developer"
    )
    assert not denied.value.retryable
    # Not retried: a permission problem does not go away by asking again.
    assert len(gcp_sandbox.requests()) == 1


def test_permission_denied_on_compute_names_the_role(gcp_sandbox):
    gcp_sandbox.api_fault(method="GET", path_regex="/instances/livekit$", status=403)

    with pytest.raises(gcp.GcpPermissionDenied, match=r"roles/compute\.instanceAdmin\.v1"):
        get_instance(STAGING, ZONE, "livekit")


def test_permission_denied_on_monitoring_over_grpc_names_the_role(gcp_sandbox):
    gcp_sandbox.api_fault(method="GRPC", path_regex="ListTimeSeries", status=403)

    end = datetime.now(UTC)
    with pytest.raises(gcp.GcpPermissionDenied, match=r"roles/monitoring\.viewer"):
        service_metrics(STAGING, "api-server", end - timedelta(minutes=5), end)


@pytest.mark.parametrize(
    ("google", "ours", "retryable"),
    [
        (gexc.NotFound("gone"), gcp.GcpNotFound, False),
        (gexc.PermissionDenied("no"), gcp.GcpPermissionDenied, False),
        (gexc.Unauthenticated("who"), gcp.GcpPermissionDenied, False),
        (gexc.InvalidArgument("bad"), gcp.GcpInvalidRequest, False),
        (gexc.FailedPrecondition("state"), gcp.GcpInvalidRequest, False),
        (gexc.Aborted("etag"), gcp.GcpInvalidRequest, False),
        (gexc.AlreadyExists("dup"), gcp.GcpInvalidRequest, False),
        (gexc.PreconditionFailed("fingerprint"), gcp.GcpInvalidRequest, False),
        (gexc.TooManyRequests("slow down"), gcp.GcpUnavailable, True),
        (gexc.ServiceUnavailable("down"), gcp.GcpUnavailable, True),
        (gexc.DeadlineExceeded("slow"), gcp.GcpUnavailable, True),
        (gexc.RetryError("gave up", gexc.ServiceUnavailable("down")), gcp.GcpUnavailable, True),
        (TimeoutError(), gcp.GcpUnavailable, True),
        (gexc.InternalServerError("oops"), gcp.GcpError, False),
    ],
)
def test_translate_maps_google_errors_to_ours(google, ours, retryable):
    with pytest.raises(ours) as caught, gcp.translate("resetting VM livekit", "acme-prod"):
        raise google

    assert type(caught.value) is ours
    assert caught.value.retryable is retryable
    assert "acme-prod" in caught.value.message
    assert "resetting VM livekit" in caught.value.message
    assert caught.value.__cause__ is google


def test_translate_leaves_other_exceptions_alone():
    with pytest.raises(KeyError), gcp.translate("reading things", "acme-prod"):
        raise KeyError("a bug stays a bug")


def test_retry_policy_follows_the_configured_timeout(settings):
    settings.GCP_TIMEOUT_SECONDS = 7

    assert gcp.timeout() == 7
    assert gcp.retry_policy().timeout == 7
    assert gcp.retry_policy()._predicate(gexc.ServiceUnavailable("x"))
    assert not gcp.retry_policy()._predicate(gexc.InternalServerError("x"))
    assert not gcp.retry_policy()._predicate(gexc.PermissionDenied("x"))
