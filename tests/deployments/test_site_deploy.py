"""The frontend (a static site on Cloud Storage behind Cloud CDN) deployed end to end: a
real RQ worker, google-cloud-storage and compute_v1.UrlMapsClient against the sandbox."""

import pytest
import requests

from deployments import services
from deployments.models import RolloutState
from deployments.site import LONG_CACHE, SHORT_CACHE
from tests.deployments.conftest import finishes_after_a_kill, wait_for, wait_for_state

S = RolloutState
SITE = "frontend"
BUCKET = "acme-staging-frontend"
RUN = ("api-server", "realtime", "agent")
pytestmark = pytest.mark.django_db(transaction=True)


def build(version: str) -> str:
    return f"gs://acme-builds/frontend/builds/{version}/"


@pytest.fixture
def site_release(make_release):
    """A release carrying the frontend's build (and, when asked, Cloud Run images)."""
    from deployments.models import ReleaseArtifact

    def _make(version, services=()):
        release = make_release(version, services=services)
        ReleaseArtifact.objects.create(release=release, service_name=SITE, image=build(version))
        return release

    return _make


def _public(sandbox) -> str:
    return requests.get(f"{sandbox.http_url}/sandbox/v1/sites/{BUCKET}/", timeout=5).text


def _site(sandbox) -> dict:
    return sandbox.state()["sites"][BUCKET]


def _writes(sandbox, since=0) -> list[str]:
    """The serving bucket's objects in the order the app copied them in."""
    marker = f"/rewriteTo/b/{BUCKET}/o/"
    return [
        requests.utils.unquote(r["path"].split(marker, 1)[1])
        for r in sandbox.requests(since)
        if marker in r["path"]
    ]


def test_a_site_deploy_copies_assets_then_entry_points_invalidates_and_checks_the_url(
    worker, sandbox, fast_plan, staging, alice, site_release
):
    assert "frontend 1.0.0" in _public(sandbox)  # served, and now in the CDN's cache
    mark = len(sandbox.requests())
    rollout = services.start_rollout(alice, site_release("2.1.0"), staging, "all_at_once")
    wait_for_state(rollout, S.SUCCEEDED)

    log = sandbox.requests(mark)
    writes = _writes(sandbox, mark)
    assets = [w for w in writes if w.startswith("assets/")]
    assert len(assets) == 2 and writes[: len(assets)] == assets  # assets first
    assert writes[-1] == "index.html"  # the entry point everything hangs on, last
    objects = _site(sandbox)["objects"]
    assert all(objects[a]["cacheControl"] == LONG_CACHE for a in assets)
    assert objects["index.html"]["cacheControl"] == SHORT_CACHE
    assert objects["index.html"]["metadata"]["build"] == build("2.1.0")
    # Invalidated after the switch, waited for, then the public URL checked.
    paths = [r["path"] for r in log]
    last_write = max(i for i, p in enumerate(paths) if "/rewriteTo/" in p)
    invalidations = [i for i, p in enumerate(paths) if p.endswith("/invalidateCache")]
    waits = [i for i, p in enumerate(paths) if "/global/operations/" in p]
    checks = [i for i, p in enumerate(paths) if p.startswith(f"/sandbox/v1/sites/{BUCKET}")]
    assert invalidations and min(invalidations) > last_write
    assert waits and max(waits) < min(checks)
    invalidated = {
        (r["body"] or {}).get("path") for r in log if r["path"].endswith("/invalidateCache")
    }
    assert invalidated == {"/", "/index.html", "/robots.txt"}
    assert "frontend 2.1.0" in _public(sandbox)
    assert rollout.revisions[SITE]["previous_build"].endswith("/builds/1.0.0/")
    [site] = rollout.events.filter(kind="site")
    assert "2 of 2 assets copied, then 2 of 2 entry points switched" in site.message
    assert rollout.events.filter(kind="health", message__contains="serves build 2.1.0").exists()


def test_a_rollback_switches_the_entry_points_back_to_the_earlier_build(
    worker, sandbox, fast_plan, staging, alice, site_release
):
    first = services.start_rollout(alice, site_release("2.2.0"), staging, "all_at_once")
    wait_for_state(first, S.SUCCEEDED)
    second = services.start_rollout(alice, site_release("2.3.0"), staging, "all_at_once")
    wait_for_state(second, S.SUCCEEDED)
    assert "frontend 2.3.0" in _public(sandbox)

    mark = len(sandbox.requests())
    back = services.rollback(alice, staging)
    wait_for_state(back, S.SUCCEEDED)

    assert "frontend 2.2.0" in _public(sandbox)
    writes = _writes(sandbox, mark)
    assert set(writes) == {"index.html", "robots.txt"}  # 2.2.0's assets are still there
    assert writes[-1] == "index.html"
    assert _site(sandbox)["objects"]["index.html"]["metadata"]["build"] == build("2.2.0")


def test_a_site_that_does_not_serve_the_new_build_is_put_back(
    worker, sandbox, fast_plan, staging, alice, site_release
):
    sandbox.fault(site=BUCKET, stale=True)  # the CDN keeps its copy, whatever we ask
    _public(sandbox)
    rollout = services.start_rollout(alice, site_release("2.4.0"), staging, "all_at_once")
    wait_for_state(rollout, S.FAILED)

    assert "does not serve build 2.4.0" in rollout.message
    assert "previous build's entry points were put back" in rollout.message
    objects = _site(sandbox)["objects"]
    assert objects["index.html"]["metadata"]["build"].endswith("/builds/1.0.0/")
    assert rollout.events.filter(kind="site", message__contains="back on build 1.0.0").exists()


def test_a_build_that_does_not_match_its_manifest_is_refused_before_anything_is_copied(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    from deployments.models import ReleaseArtifact

    release = make_release("2.5.0", services=())
    ReleaseArtifact.objects.create(
        release=release, service_name=SITE, image="gs://acme-builds/frontend/empty/"
    )
    mark = len(sandbox.requests())
    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    wait_for_state(rollout, S.FAILED)

    assert "has no manifest.json" in rollout.message
    assert _writes(sandbox, mark) == []


def test_a_worker_killed_while_the_invalidation_runs_resumes_without_redoing_anything(
    worker, sandbox, fast_plan, staging, alice, site_release
):
    sandbox.fault(site=BUCKET, invalidation_delay=4)
    mark = len(sandbox.requests())
    rollout = services.start_rollout(alice, site_release("2.6.0"), staging, "all_at_once")
    wait_for(
        lambda: any(r["path"].endswith("/invalidateCache") for r in sandbox.requests(mark)),
        30,
        what="the invalidation to start",
    )
    finishes_after_a_kill(worker, rollout, S.SUCCEEDED)

    writes = _writes(sandbox, mark)
    assert sorted(writes) == sorted(set(writes))  # every object copied once
    asked = [
        r["query"]["requestId"]
        for r in sandbox.requests(mark)
        if r["path"].endswith("/invalidateCache")
    ]
    assert len(set(asked)) == 3 < len(asked)  # the resumed pass sent the same three again
    [site] = rollout.events.filter(kind="site")  # the killed pass wrote nothing
    assert "0 of 2 assets copied, then 0 of 2 entry points switched" in site.message
    assert "frontend 2.6.0" in _public(sandbox)
    assert rollout.revisions[SITE]["previous_build"].endswith("/builds/1.0.0/")


def test_a_release_with_cloud_run_services_switches_the_site_once_they_serve_100(
    worker, sandbox, fast_plan, staging, alice, site_release
):
    rollout = services.start_rollout(alice, site_release("2.7.0", RUN), staging, "canary")
    wait_for_state(rollout, S.SUCCEEDED)
    kinds = list(rollout.events.order_by("pk").values_list("kind", flat=True))
    last_step = len(kinds) - 1 - kinds[::-1].index("step")
    assert kinds.index("site") > last_step
    assert kinds.index("site") < kinds.index("verifying")
    assert "frontend 2.7.0" in _public(sandbox)
