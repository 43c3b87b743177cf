"""The environment and deploy pages show what Google serves (the health collector's
snapshot), whoever deployed it: the release whose artifact carries the live digest, the
revision and the split; the dashboard's own records only until something is collected."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from datetime import UTC, datetime, timedelta

from deployments.live import live_services
from deployments.models import Release, ReleaseArtifact
from monitoring import collect
from platform_admin.gcp_compute import get_instance
from platform_admin.gcp_run import TrafficTarget, deploy_revision, get_service, set_traffic
from tests.deployments.conftest import gcp, image, sandbox_server  # noqa: F401


def _collect(env):
    collect.sample_environment(env, datetime.now(UTC) - timedelta(minutes=5), backfill_days=0)


def _release(version, user, **images):
    release = Release.objects.create(version=version, created_by=user)
    for service, ref in images.items():
        ReleaseArtifact.objects.create(release=release, service_name=service, image=ref)
    return release


def _row(page: str, service: str) -> str:
    start = page.index(f'data-service="{service}"')
    return page[start : page.index("</tr>", start)]


def test_nothing_collected_nor_deployed_says_so(client, alice, staging):
    client.force_login(alice)

    page = client.get("/deployments/environments/staging/").content.decode()

    assert "nothing known yet" in _row(page, "api-server")


def test_the_environment_page_names_the_release_carrying_the_live_digest(
    gcp, client, alice, staging
):
    project, region = staging.gcp_project, staging.region
    api = get_service(project, region, "api-server")
    # A release registered with the image that runs now, under another tag: same digest.
    _release("1.0.0", alice, **{"api-server": image("api-server", "old", "c")})
    _release(
        "1.1.0",
        alice,
        **{"api-server": api.image.split("@")[0] + ":v1.1@" + api.image.split("@")[1]},
    )
    pinned = get_instance(project, "us-central1-a", "livekit").metadata["livekit-version"]
    _release(pinned, alice, livekit=image("livekit", digest_char="d"))
    _collect(staging)
    client.force_login(alice)

    page = client.get("/deployments/environments/staging/").content.decode()

    api_row = _row(page, "api-server")
    assert "1.1.0" in api_row and api.latest_ready_revision in api_row and "100%" in api_row
    assert "observed" in api_row
    realtime = _row(page, "realtime")  # no release carries its image
    assert "no release" in realtime and get_service(project, region, "realtime").image in realtime
    assert pinned in _row(page, "livekit")
    overview = client.get("/").content.decode()
    staging = overview.split('data-environment="staging"')[1].split("data-environment=")[0]
    assert "1.1.0</a> live" in staging and "realtime" in staging and "no release" in staging


def test_a_split_made_outside_the_dashboard_shows_as_it_is(gcp, alice, staging):
    project, region = staging.gcp_project, staging.region
    stable = get_service(project, region, "api-server")
    canary = image("api-server", "v2", "e")
    deploy_revision(project, region, "api-server", canary, "api-server-v2")
    set_traffic(
        project,
        region,
        "api-server",
        [TrafficTarget(stable.latest_ready_revision, 70), TrafficTarget("api-server-v2", 30)],
    )
    _release("2.0.0", alice, **{"api-server": canary})
    _collect(staging)

    api = next(s for s in live_services(staging) if s.name == "api-server")

    assert api.traffic == {stable.latest_ready_revision: 70, "api-server-v2": 30}
    assert api.revision == stable.latest_ready_revision  # the one serving most
    assert api.source == "collected"


def test_the_deploy_page_compares_against_what_is_live(gcp, client, alice, staging):
    project, region = staging.gcp_project, staging.region
    live_image = get_service(project, region, "api-server").image
    _release("3.0.0", alice, **{"api-server": live_image})
    _release("3.1.0", alice, **{"api-server": live_image, "agent": image("agent", digest_char="f")})
    _collect(staging)
    client.force_login(alice)

    page = client.get("/deployments/environments/staging/deploy/?release=3.1.0").content.decode()

    api = page[
        page.index("<td>api-server</td>") : page.index("</tr>", page.index("<td>api-server"))
    ]
    assert "3.0.0" in api or "3.1.0" in api
    assert "(unchanged)" in api
    agent = page[page.index("<td>agent</td>") : page.index("</tr>", page.index("<td>agent"))]
    assert "no release" in agent and "(unchanged)" not in agent
