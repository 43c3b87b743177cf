"""Compute Engine adapter against the sandbox: the LiveKit VM's metadata, reset, health."""

import uuid

import pytest

from platform_admin import gcp
from platform_admin.gcp_compute import (
    get_instance,
    health_url,
    probe_health,
    reset,
    set_metadata,
)
from tests.platform_admin.conftest import PROD, STAGING, ZONE


def _rid() -> str:
    return str(uuid.uuid4())


@pytest.mark.parametrize("project", [STAGING, PROD])
def test_get_instance_reads_the_livekit_vm(gcp_sandbox, project):
    vm = get_instance(project, ZONE, "livekit")

    assert (vm.name, vm.zone, vm.status) == ("livekit", ZONE, "RUNNING")
    assert vm.id.isdigit()
    assert vm.fingerprint
    assert vm.metadata["livekit-version"]
    assert "startup-script" in vm.metadata


def test_set_metadata_writes_the_full_set_and_returns_the_fresh_instance(gcp_sandbox):
    vm = get_instance(STAGING, ZONE, "livekit")

    after = set_metadata(
        STAGING,
        ZONE,
        "livekit",
        {**vm.metadata, "livekit-version": "1.8.0"},
        vm.fingerprint,
        _rid(),
    )

    assert after.metadata == {**vm.metadata, "livekit-version": "1.8.0"}
    assert after.fingerprint != vm.fingerprint
    assert get_instance(STAGING, ZONE, "livekit") == after
    posts = [r for r in gcp_sandbox.requests() if r["method"] == "POST"]
    assert posts[0]["path"].endswith("/instances/livekit/setMetadata")
    assert posts[0]["query"]["requestId"]
    assert posts[1]["path"].endswith("/wait")


def test_set_metadata_with_a_stale_fingerprint_is_refused_clearly(gcp_sandbox):
    vm = get_instance(STAGING, ZONE, "livekit")
    set_metadata(STAGING, ZONE, "livekit", {**vm.metadata, "a": "1"}, vm.fingerprint, _rid())

    with pytest.raises(gcp.GcpInvalidRequest) as stale:
        set_metadata(STAGING, ZONE, "livekit", {**vm.metadata, "b": "2"}, vm.fingerprint, _rid())

    assert "stale fingerprint" in stale.value.message
    assert "read the instance again" in stale.value.message
    assert "b" not in get_instance(STAGING, ZONE, "livekit").metadata


def test_set_metadata_repeated_with_the_same_request_id_is_harmless(gcp_sandbox):
    vm = get_instance(STAGING, ZONE, "livekit")
    request_id = _rid()
    items = {**vm.metadata, "livekit-version": "1.8.0"}
    first = set_metadata(STAGING, ZONE, "livekit", items, vm.fingerprint, request_id)

    again = set_metadata(STAGING, ZONE, "livekit", items, vm.fingerprint, request_id)

    assert again == first


def test_set_metadata_survives_a_503_thanks_to_the_request_id(gcp_sandbox):
    vm = get_instance(STAGING, ZONE, "livekit")
    gcp_sandbox.api_fault(method="POST", path_regex="/setMetadata$", status=503, times=1)

    after = set_metadata(STAGING, ZONE, "livekit", {"x": "1"}, vm.fingerprint, _rid())

    assert after.metadata == {"x": "1"}


def test_set_metadata_on_an_unknown_vm_is_not_found(gcp_sandbox):
    with pytest.raises(gcp.GcpNotFound, match="VM nope"):
        set_metadata(STAGING, ZONE, "nope", {}, "fp", _rid())


def test_reset_waits_until_the_operation_is_done(gcp_sandbox):
    reset(STAGING, ZONE, "livekit", _rid())

    ops = [r for r in gcp_sandbox.requests() if r["path"].endswith("/wait")]
    assert ops and ops[-1]["status"] == 200
    assert get_instance(STAGING, ZONE, "livekit").status == "RUNNING"


def test_wait_gives_up_at_the_timeout(gcp_sandbox):
    # The sandbox finishes operations after 0.3 s; a 0.1 s budget runs out first.
    with pytest.raises(gcp.GcpUnavailable, match="still running"):
        reset(STAGING, ZONE, "livekit", _rid(), timeout=0.1)


def test_health_url_points_at_the_sandbox_in_sandbox_mode(gcp_sandbox):
    url = health_url(STAGING, ZONE, "livekit", "https://livekit.staging.example.com/")

    assert url == f"{gcp_sandbox.http_url}/sandbox/v1/health/{STAGING}/{ZONE}/livekit"


def test_health_url_is_the_configured_url_against_real_google(settings):
    settings.GCP_API_ENDPOINT = None

    url = health_url(STAGING, ZONE, "livekit", "https://livekit.staging.example.com/")

    assert url == "https://livekit.staging.example.com/"


def test_probe_health_passes_for_a_healthy_vm(gcp_sandbox):
    ok, detail = probe_health(health_url(STAGING, ZONE, "livekit", ""), attempts=1)

    assert ok
    assert "200" in detail


def test_probe_health_fails_for_a_vm_with_an_unhealthy_version(gcp_sandbox):
    gcp_sandbox.fault(project=STAGING, instance="livekit", healthy=False)

    ok, detail = probe_health(health_url(STAGING, ZONE, "livekit", ""), attempts=2, interval=0)

    assert not ok
    assert "attempt 2/2" in detail and "503" in detail


def test_probe_health_reports_an_unreachable_url():
    ok, detail = probe_health("http://127.0.0.1:9/", attempts=1, timeout=1)

    assert not ok
    assert "unreachable" in detail


def test_a_health_probe_never_follows_a_redirect():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/computeMetadata/v1/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
        healthy, detail = probe_health(url, attempts=1)
    finally:
        server.shutdown()

    assert not healthy and "redirected to http://169.254.169.254" in detail


def test_a_health_url_that_resolves_to_a_link_local_address_is_not_probed():
    healthy, detail = probe_health("http://169.254.169.254/", attempts=1)

    assert not healthy and "link-local address: not probed" in detail
