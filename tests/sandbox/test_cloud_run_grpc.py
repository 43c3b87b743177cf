"""Cloud Run Admin v2 over gRPC: the official run_v2 client on its default transport
against the sandbox, which serves each call by its REST route (same model, faults and
request log)."""

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import run_v2
from google.cloud.run_v2.services.revisions.transports import RevisionsGrpcTransport
from google.cloud.run_v2.services.services.transports import ServicesGrpcTransport

from tests.sandbox.test_cloud_run import API, NEW_IMAGE, deploy_canary, short


@pytest.fixture
def grpc_run(sandbox):
    channel = grpc.insecure_channel(sandbox.grpc_target)
    yield (
        run_v2.ServicesClient(transport=ServicesGrpcTransport(channel=channel)),
        run_v2.RevisionsClient(transport=RevisionsGrpcTransport(channel=channel)),
    )
    channel.close()


def test_a_service_reads_the_same_over_grpc_as_over_rest(grpc_run, run_client):
    services, _ = grpc_run

    over_grpc, over_rest = services.get_service(name=API), run_client.get_service(name=API)

    assert over_grpc.latest_ready_revision == over_rest.latest_ready_revision
    assert over_grpc.template.containers[0].image == over_rest.template.containers[0].image
    assert list(over_grpc.traffic_statuses) == list(over_rest.traffic_statuses)
    assert over_grpc.etag == over_rest.etag


def test_a_canary_deploy_over_grpc_waits_on_its_operation_and_is_logged(grpc_run, sandbox):
    services, revisions = grpc_run
    mark = len(sandbox.requests())

    stable, operation = deploy_canary(services)
    svc = operation.result(timeout=10)  # polls GetOperation until the ready delay passed

    assert short(svc.latest_ready_revision) == "api-server-1-5-0"
    statuses = {s.revision: (s.percent, s.tag) for s in svc.traffic_statuses}
    assert statuses == {stable: (100, ""), "api-server-1-5-0": (0, "canary")}
    revs = list(revisions.list_revisions(parent=API))
    assert [short(r.name) for r in revs] == ["api-server-1-5-0", stable]
    assert revisions.get_revision(name=revs[0].name).containers[0].image == NEW_IMAGE
    log = sandbox.requests(mark)
    assert {r["transport"] for r in log} == {"grpc"}
    patch = next(r for r in log if r["method"] == "PATCH")
    assert patch["path"] == f"/v2/{API}" and patch["body"]["template"]["revision"] == (
        "api-server-1-5-0"
    )
    assert any(r["path"].startswith(f"/v2/{API.split('/services/')[0]}/operations/") for r in log)


def test_errors_and_injected_faults_keep_their_meaning_over_grpc(grpc_run, sandbox):
    services, _ = grpc_run
    with pytest.raises(exceptions.NotFound):
        services.get_service(name=API.replace("api-server", "nope"))

    sandbox.api_fault(method="GET", path_regex="/services/api-server$", status=503, times=1)
    with pytest.raises(exceptions.ServiceUnavailable):
        services.get_service(name=API, retry=None)
    assert services.get_service(name=API, retry=None).name == API
