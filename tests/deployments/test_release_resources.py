"""A release that changes a Cloud Run service's resources: stored and checked, set on the
new revision by the deploy, and priced on the deploy and approval pages before it goes
out (the estimate with the new spec minus the current one)."""

from decimal import Decimal

import pytest

from costs import prices
from deployments import services
from deployments.models import Release, Rollout, RolloutState
from deployments.tokens import create_token
from tests.deployments.conftest import api_caller, image, sandbox_service, wait_for_state

S = RolloutState
H = Decimal(730)


@pytest.fixture
def as_user(client):
    return lambda user: api_caller(client, create_token(user, "ci"))


@pytest.fixture
def priced(gcp):
    prices.refresh(actor="test")


def test_the_api_stores_a_releases_resources_and_refuses_bad_ones(as_user, alice, staging):
    api = as_user(alice)
    artifacts = {"agent": image("agent"), "livekit": image("livekit")}

    bad = api(
        "post",
        "/releases",
        {
            "version": "2.0.0",
            "artifacts": artifacts,
            "resources": {
                "agent": {"cpu": 3, "memory_gib": 64, "min_instances": 4, "max_instances": 2},
                "livekit": {"memory_gib": 4},
                "realtime": {"cpu": 1},
            },
        },
    )
    assert bad.status_code == 400
    message = bad.json()["message"]
    assert "resources.agent.cpu: 3 vCPU is not one Cloud Run allows" in message
    assert "resources.agent.memory_gib: 64 GiB is outside Cloud Run's 0.125–32 GiB" in message
    assert "resources.livekit: resources are set for Cloud Run services only" in message
    assert "resources.realtime: the release carries no image for realtime" in message
    assert not Release.objects.exists()

    good = api(
        "post",
        "/releases",
        {
            "version": "2.0.0",
            "artifacts": artifacts,
            "resources": {"agent": {"memory_gib": 4, "cpu": "2", "min_instances": 1}},
        },
    )
    assert good.status_code == 201
    assert good.json()["resources"] == {
        "agent": {"cpu": "2", "memory_gib": "4", "min_instances": 1}
    }
    inverted = api(
        "post",
        "/releases",
        {
            "version": "2.0.1",
            "artifacts": artifacts,
            "resources": {"agent": {"min_instances": 5, "max_instances": 2, "speed": 9}},
        },
    )
    assert "speed" in inverted.json()["message"]


def test_the_release_form_takes_resources_as_key_value_pairs(client, alice, staging):
    client.force_login(alice)
    form = {"version": "2.1.0", "image_agent": image("agent"), "resources_agent": "memory_gib=4"}

    response = client.post("/deployments/releases/new/", {**form, "resources_agent": "memory_gib"})
    assert "&#x27;memory_gib&#x27; is not key=value" in response.content.decode()
    assert not Release.objects.exists()

    response = client.post("/deployments/releases/new/", form)
    assert response.status_code == 302
    assert Release.objects.get(version="2.1.0").resources() == {"agent": {"memory_gib": "4"}}


@pytest.mark.django_db(transaction=True)
def test_the_deploy_sets_the_resources_on_the_new_revision(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    release = make_release("2.2.0", services=("agent",))
    release.artifacts.update(resources={"memory_gib": "4", "cpu": "2", "max_instances": 6})

    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    wait_for_state(rollout, S.SUCCEEDED)

    template = sandbox_service(sandbox, staging, "agent")["template"]
    limits = template["containers"][0]["resources"]["limits"]
    assert (limits["memory"], limits["cpu"]) == ("4Gi", "2")
    assert template["scaling"]["maxInstanceCount"] == 6
    assert template["containers"][0]["image"] == image("agent", digest_char="b")


def test_the_deploy_page_shows_the_monthly_delta_in_words(
    client, alice, staging, make_release, priced
):
    release = make_release("2.3.0", services=("api-server",))
    release.artifacts.update(resources={"memory_gib": "2"})
    client.force_login(alice)

    page = client.get(
        f"/deployments/environments/{staging.slug}/deploy/?release=2.3.0"
    ).content.decode()

    # api-server runs 1 min instance all month, instance-based: + 1 GiB × 730 h × $0.000002/GiB-s.
    delta = (1 * H * 3600 * Decimal("0.000002")).quantize(Decimal("0.01"))
    assert f"+${delta} / month: api-server memory 1 → 2 GiB" in page
    assert "resources: memory_gib=2" in page


def test_the_approver_sees_the_delta_before_approving(
    client, alice, bob, production, make_release, priced
):
    release = make_release("2.4.0", services=("api-server",))
    release.artifacts.update(resources={"memory_gib": "4"})
    rollout = Rollout.objects.create(
        release=release, environment=production, started_by=alice, state=S.PENDING_APPROVAL
    )
    client.force_login(bob)

    page = client.get(f"/deployments/rollouts/{rollout.pk}/").content.decode()

    # 2 instances all month, 2 GiB more each, half of it under the 17% spend commitment.
    listed = 2 * 2 * H * 3600 * Decimal("0.000002")
    delta = (listed - listed * Decimal("0.5") * Decimal("0.17")).quantize(Decimal("0.01"))
    assert f"+${delta} / month: api-server memory 2 → 4 GiB" in page
    assert services._plan(release, production)[0][0]["resources"] == {"memory_gib": "4"}
