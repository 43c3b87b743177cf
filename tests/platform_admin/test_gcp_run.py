"""Cloud Run adapter against the sandbox: reading services, deploying, moving traffic."""

import pytest

from platform_admin import gcp
from platform_admin.gcp_run import (
    TrafficTarget,
    deploy_revision,
    get_revision,
    get_service,
    list_revisions,
    set_traffic,
)
from tests.platform_admin.conftest import PROD, REGION, STAGING

SERVICES = ["api-server", "realtime", "agent"]
# How the traffic entries' allocation type reads in the request log (gRPC calls are
# logged as their REST equivalents, with the enums by name).
BY_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


def _image(state, tag: str) -> str:
    return state.image.split("@")[0].rsplit(":", 1)[0] + ":" + tag


def _patches(sandbox, since: int = 0) -> list[dict]:
    return [r for r in sandbox.requests(since) if r["method"] == "PATCH"]


@pytest.mark.parametrize("project", [STAGING, PROD])
@pytest.mark.parametrize("service", SERVICES)
def test_get_service_reads_every_platform_service(gcp_sandbox, project, service):
    state = get_service(project, REGION, service)

    assert state.name == service
    assert state.image.startswith("us-docker.pkg.dev/")
    assert state.latest_ready_revision.startswith(f"{service}-")
    assert state.latest_created_revision == state.latest_ready_revision
    assert state.template_revision == state.latest_ready_revision
    # The seeded split is LATEST 100%: the status names the revision it resolved to.
    assert state.traffic == (TrafficTarget(state.latest_ready_revision, 100),)
    assert state.etag


def test_list_revisions_and_get_revision_describe_the_seeded_revision(gcp_sandbox):
    state = get_service(STAGING, REGION, "api-server")

    revisions = list_revisions(STAGING, REGION, "api-server")
    one = get_revision(STAGING, REGION, "api-server", state.latest_ready_revision)

    assert [r.name for r in revisions] == [state.latest_ready_revision]
    assert one == revisions[0]
    assert one.ready and one.failed_message == ""
    assert one.image == state.image
    assert one.created is not None and one.created.tzinfo is not None


def test_deploy_revision_adds_a_tagged_revision_at_zero_percent(gcp_sandbox):
    before = get_service(STAGING, REGION, "api-server")
    stable = before.latest_ready_revision

    after = deploy_revision(STAGING, REGION, "api-server", _image(before, "v2"), "api-server-v2")

    assert after.image == _image(before, "v2")
    assert after.template_revision == "api-server-v2"
    assert after.latest_ready_revision == "api-server-v2"
    assert set(after.traffic) == {
        TrafficTarget(stable, 100),
        TrafficTarget("api-server-v2", 0, "canary"),
    }
    assert get_revision(STAGING, REGION, "api-server", "api-server-v2").ready


def test_deploy_revision_reads_once_and_updates_once_when_the_operation_says_ready(
    gcp_sandbox,
):
    before = get_service(STAGING, REGION, "agent")
    mark = len(gcp_sandbox.requests())

    after = deploy_revision(STAGING, REGION, "agent", _image(before, "v2"), "agent-v2")

    calls = [(r["method"], r["path"].rsplit("/", 2)[-2]) for r in gcp_sandbox.requests(mark)]
    waits = [c for c in calls if c[1] == "operations"]
    assert [c for c in calls if c not in waits] == [("GET", "services"), ("PATCH", "services")]
    assert after.latest_ready_revision == "agent-v2"


def test_deploy_revision_goes_over_grpc_with_an_update_mask_and_pinned_traffic(gcp_sandbox):
    before = get_service(STAGING, REGION, "realtime")

    deploy_revision(STAGING, REGION, "realtime", _image(before, "v2"), "realtime-v2")

    (patch,) = _patches(gcp_sandbox)
    assert patch["transport"] == "grpc"
    assert patch["query"]["updateMask"] == "template,traffic"
    assert {t["type"] for t in patch["body"]["traffic"]} == {BY_REVISION}  # all pinned
    assert patch["body"]["template"]["revision"] == "realtime-v2"


def test_deploy_revision_again_for_a_ready_revision_makes_no_update(gcp_sandbox):
    before = get_service(STAGING, REGION, "agent")
    first = deploy_revision(STAGING, REGION, "agent", _image(before, "v2"), "agent-v2")
    mark = len(gcp_sandbox.requests())

    again = deploy_revision(STAGING, REGION, "agent", _image(before, "v2"), "agent-v2")

    assert again == first
    assert _patches(gcp_sandbox, mark) == []


def test_deploy_revision_moves_the_tag_from_the_previous_canary(gcp_sandbox):
    before = get_service(STAGING, REGION, "api-server")
    deploy_revision(STAGING, REGION, "api-server", _image(before, "v2"), "api-server-v2")

    after = deploy_revision(STAGING, REGION, "api-server", _image(before, "v3"), "api-server-v3")

    assert set(after.traffic) == {
        TrafficTarget(before.latest_ready_revision, 100),
        TrafficTarget("api-server-v3", 0, "canary"),
    }


def test_deploy_revision_of_a_broken_image_fails_and_leaves_traffic_alone(gcp_sandbox):
    before = get_service(STAGING, REGION, "api-server")
    broken = _image(before, "broken")
    gcp_sandbox.fault(project=STAGING, service="api-server", image=broken, ready=False)

    with pytest.raises(gcp.GcpOperationFailed) as failure:
        deploy_revision(STAGING, REGION, "api-server", broken, "api-server-broken")

    assert "api-server-broken" in failure.value.message
    assert "not ready" in failure.value.message
    after = get_service(STAGING, REGION, "api-server")
    assert after.traffic == before.traffic
    assert after.latest_ready_revision == before.latest_ready_revision
    info = get_revision(STAGING, REGION, "api-server", "api-server-broken")
    assert not info.ready and "not ready" in info.failed_message


def test_deploy_revision_again_for_a_failed_revision_raises_without_an_update(gcp_sandbox):
    before = get_service(STAGING, REGION, "api-server")
    broken = _image(before, "broken")
    gcp_sandbox.fault(project=STAGING, service="api-server", image=broken, ready=False)
    with pytest.raises(gcp.GcpOperationFailed):
        deploy_revision(STAGING, REGION, "api-server", broken, "api-server-broken")
    mark = len(gcp_sandbox.requests())

    with pytest.raises(gcp.GcpOperationFailed):
        deploy_revision(STAGING, REGION, "api-server", broken, "api-server-broken")

    assert _patches(gcp_sandbox, mark) == []


def test_deploy_revision_rejects_a_name_without_the_service_prefix(gcp_sandbox):
    before = get_service(STAGING, REGION, "api-server")

    with pytest.raises(gcp.GcpInvalidRequest, match="must start with the service name"):
        deploy_revision(STAGING, REGION, "api-server", _image(before, "v2"), "other-v2")


def test_set_traffic_shifts_five_percent_to_the_canary(gcp_sandbox):
    before = get_service(PROD, REGION, "api-server")
    stable = before.latest_ready_revision
    deploy_revision(PROD, REGION, "api-server", _image(before, "v2"), "api-server-v2")
    mark = len(gcp_sandbox.requests())

    after = set_traffic(
        PROD,
        REGION,
        "api-server",
        [TrafficTarget(stable, 95), TrafficTarget("api-server-v2", 5, "canary")],
    )

    assert set(after.traffic) == {
        TrafficTarget(stable, 95),
        TrafficTarget("api-server-v2", 5, "canary"),
    }
    assert get_service(PROD, REGION, "api-server").traffic == after.traffic
    (patch,) = _patches(gcp_sandbox, mark)
    assert patch["query"]["updateMask"] == "traffic"
    assert [t["type"] for t in patch["body"]["traffic"]] == [BY_REVISION, BY_REVISION]
    assert "template" not in patch["body"]


def test_set_traffic_to_latest_sends_the_latest_type(gcp_sandbox):
    after = set_traffic(STAGING, REGION, "agent", [TrafficTarget(None, 100)])

    (patch,) = _patches(gcp_sandbox)
    assert patch["body"]["traffic"] == [{"type": LATEST, "percent": 100}]
    assert after.traffic[0].percent == 100


@pytest.mark.parametrize("shares", [[95, 4], [101, -1], []])
def test_set_traffic_refuses_a_split_not_adding_up_to_100_without_calling_google(
    gcp_sandbox, shares
):
    targets = [TrafficTarget(f"api-server-{i}", p) for i, p in enumerate(shares)]

    with pytest.raises(gcp.GcpInvalidRequest) as refused:
        set_traffic(STAGING, REGION, "api-server", targets)

    assert "api-server" in refused.value.message
    assert gcp_sandbox.requests() == []


def test_set_traffic_to_an_unknown_revision_is_an_invalid_request(gcp_sandbox):
    with pytest.raises(gcp.GcpInvalidRequest, match="api-server-nope"):
        set_traffic(STAGING, REGION, "api-server", [TrafficTarget("api-server-nope", 100)])


def test_list_revisions_reads_every_page(gcp_sandbox):
    before = get_service(STAGING, REGION, "agent")
    for n in (2, 3, 4):
        deploy_revision(STAGING, REGION, "agent", _image(before, f"v{n}"), f"agent-v{n}")
    mark = len(gcp_sandbox.requests())

    revisions = list_revisions(STAGING, REGION, "agent", page_size=2)

    names = {r.name for r in revisions}
    assert names == {before.latest_ready_revision, "agent-v2", "agent-v3", "agent-v4"}
    listed = [r for r in gcp_sandbox.requests(mark) if r["path"].endswith("/revisions")]
    assert [r["query"].get("pageToken", "") for r in listed] == ["", "2"]


def test_unknown_service_is_not_found_naming_it(gcp_sandbox):
    with pytest.raises(gcp.GcpNotFound) as missing:
        get_service(STAGING, REGION, "nope")

    assert "Cloud Run service nope" in missing.value.message
    assert STAGING in missing.value.message
    assert not missing.value.retryable


def test_unknown_revision_is_not_found_naming_it(gcp_sandbox):
    with pytest.raises(gcp.GcpNotFound, match="revision api-server-nope"):
        get_revision(STAGING, REGION, "api-server", "api-server-nope")
