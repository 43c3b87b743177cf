"""Cloud Run Admin v2 contract: the official run_v2 REST client against the sandbox."""

import re

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from tests.sandbox.conftest import PLATFORM, PROD, REGION, STAGING
from tests.sandbox_fixture import start_sandbox, stop_sandbox

REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
API = f"projects/{STAGING}/locations/{REGION}/services/api-server"
NEW_IMAGE = "us-docker.pkg.dev/acme-staging/app/api-server:1.5.0@sha256:" + "ab" * 32


def short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def split(*targets: tuple) -> list[run_v2.TrafficTarget]:
    return [
        run_v2.TrafficTarget(type_=REVISION, revision=rev, percent=pct, tag=tag)
        for rev, pct, tag in targets
    ]


def deploy_canary(client, image=NEW_IMAGE, name="api-server-1-5-0"):
    """The rollout engine's first step: new tagged revision, 0% traffic."""
    svc = client.get_service(name=API)
    stable = short(svc.latest_ready_revision)
    svc.template.containers[0].image = image
    svc.template.revision = name
    svc.traffic[:] = split((stable, 100, ""), (name, 0, "canary"))
    return stable, client.update_service(service=svc)


@pytest.mark.parametrize("project", [STAGING, PROD])
@pytest.mark.parametrize("service", ["api-server", "realtime", "agent"])
def test_every_platform_service_is_seeded_ready_with_one_revision(run_client, project, service):
    svc = run_client.get_service(name=f"projects/{project}/locations/{REGION}/services/{service}")
    assert re.fullmatch(
        rf"us-docker\.pkg\.dev/{project}/app/{service}@sha256:[0-9a-f]{{64}}",
        svc.template.containers[0].image,
    )
    assert svc.latest_ready_revision == svc.latest_created_revision
    assert short(svc.latest_ready_revision).startswith(f"{service}-00001-")
    assert [(t.type_, t.percent) for t in svc.traffic] == [(LATEST, 100)]
    assert svc.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
    assert svc.generation == 1 and svc.uri.startswith("https://") and not svc.reconciling


def test_list_services_pages_with_tokens(run_client, sandbox):
    pager = run_client.list_services(
        request={"parent": f"projects/{STAGING}/locations/{REGION}", "page_size": 2}
    )
    names = [short(s.name) for s in pager]
    assert names == ["agent", "api-server", "realtime"]
    lists = [r for r in sandbox.requests() if r["path"].endswith("/services")]
    assert [r["query"].get("pageToken", "") for r in lists] == ["", "2"]


def test_update_creates_tagged_canary_revision_at_zero_percent(run_client, revisions_client):
    stable, op = deploy_canary(run_client)
    assert run_client.get_service(name=API).reconciling  # until the ready delay passed
    svc = op.result(timeout=10)
    assert short(svc.latest_ready_revision) == "api-server-1-5-0"
    statuses = {s.revision: (s.percent, s.tag, s.uri) for s in svc.traffic_statuses}
    assert statuses[stable][0] == 100
    assert statuses["api-server-1-5-0"][:2] == (0, "canary")
    assert statuses["api-server-1-5-0"][2].startswith("https://canary---api-server-")
    revs = list(revisions_client.list_revisions(parent=API))
    assert [short(r.name) for r in revs] == ["api-server-1-5-0", stable]
    assert revs[0].containers[0].image == NEW_IMAGE and revs[0].conditions[0].state == (
        run_v2.Condition.State.CONDITION_SUCCEEDED
    )
    got = revisions_client.get_revision(name=revs[0].name)
    assert got.scaling.min_instance_count == 1


def test_with_no_ready_delay_the_patch_answers_with_the_operation_done():
    sandbox = start_sandbox(PLATFORM, ready_delay=0)
    try:
        client = run_v2.ServicesClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": sandbox.http_url},
        )
        _, op = deploy_canary(client)
        assert op.done()  # no operation GET needed
        assert short(op.result().latest_ready_revision) == "api-server-1-5-0"
        assert not [r for r in sandbox.requests() if "/operations/" in r["path"]]
    finally:
        stop_sandbox(sandbox.process)


def test_resending_the_same_patch_creates_no_second_revision(run_client, revisions_client):
    _, op = deploy_canary(run_client)
    op.result(timeout=10)
    _, again = deploy_canary(run_client)
    again.result(timeout=10)
    assert len(list(revisions_client.list_revisions(parent=API))) == 2


def test_reusing_a_revision_name_with_another_image_is_a_conflict(run_client):
    deploy_canary(run_client)[1].result(timeout=10)
    with pytest.raises(exceptions.Conflict, match="already exists"):
        deploy_canary(run_client, image=NEW_IMAGE.replace("ab", "cd"))


def test_traffic_only_patch_moves_traffic_without_a_new_revision(run_client, revisions_client):
    stable, op = deploy_canary(run_client)
    op.result(timeout=10)
    svc = run_client.get_service(name=API)
    svc.traffic[:] = split((stable, 95, ""), ("api-server-1-5-0", 5, "canary"))
    result = run_client.update_service(service=svc).result(timeout=10)
    assert [(t.revision, t.percent, t.tag) for t in result.traffic] == [
        (stable, 95, ""),
        ("api-server-1-5-0", 5, "canary"),
    ]
    assert result.generation == 3
    assert len(list(revisions_client.list_revisions(parent=API))) == 2


@pytest.mark.parametrize(
    "targets, message",
    [
        ((("STABLE", 90, ""),), "sum to 90, want 100"),
        ((("STABLE", 50, ""), ("api-server-00099-zzz", 50, "")), "api-server-00099-zzz"),
        ((("STABLE", 50, "x"), ("STABLE", 50, "x")), "Traffic tag 'x' is used more than once"),
    ],
)
def test_invalid_traffic_is_refused_with_googles_error(run_client, targets, message):
    svc = run_client.get_service(name=API)
    stable = short(svc.latest_ready_revision)
    svc.traffic[:] = split(*[(stable if r == "STABLE" else r, p, t) for r, p, t in targets])
    # The REST client maps HTTP 400 to BadRequest (InvalidArgument is its gRPC twin).
    with pytest.raises(exceptions.BadRequest, match=message) as info:
        run_client.update_service(service=svc)
    assert info.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert run_client.get_service(name=API).generation == 1


def test_a_revision_that_never_becomes_ready_fails_its_operation(run_client, sandbox):
    sandbox.fault(project=STAGING, service="api-server", image=NEW_IMAGE, ready=False)
    stable, op = deploy_canary(run_client)
    with pytest.raises(exceptions.GoogleAPICallError, match="is not ready and cannot serve"):
        op.result(timeout=10)
    svc = run_client.get_service(name=API)
    assert short(svc.latest_ready_revision) == stable
    assert short(svc.latest_created_revision) == "api-server-1-5-0"
    assert svc.terminal_condition.state == run_v2.Condition.State.CONDITION_FAILED
    assert [(t.revision, t.percent) for t in svc.traffic] == [("", 100)]  # untouched


def test_unknown_service_is_not_found(run_client):
    with pytest.raises(exceptions.NotFound):
        run_client.get_service(name=API.replace("api-server", "nope"))
