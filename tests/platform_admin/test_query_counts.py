"""Query counts pinned for the busiest pages: the number is the same with two releases and
rollouts as with ten, so a page never runs a query per row. If a change moves a count on
purpose, update the number here and say why in the commit."""

import pytest
from django.utils import timezone

from deployments.models import Release, ReleaseArtifact, Rollout, RolloutEvent, RolloutState
from monitoring.models import LiveService
from platform_admin.models import Environment, ServiceKind

S = RolloutState
SMALL, LARGE = 2, 10
SERVICES = ("api-server", "realtime", "agent")
# Every page: the session and the user (2). Then:
QUERIES = {
    # environments with promote_from, their services; live versions (one subquery for
    # every environment), active rollouts with releases; platform settings (currency);
    # plus the health part's HEALTH_PER_ENVIRONMENT queries for each environment; the cost
    # part's month (the data's span, per day, per component, targets, environments, credits);
    # the collected live state and the releases carrying its digests
    "overview": 15,
    # the environment, its services; live: the collected state, rollouts, their
    # artifacts, the artifacts carrying the live digests; rollback choices and the
    # migrations since each (one query); alice's role grants (can_deploy); the recent
    # rollouts
    "environment": 12,
    # the rollout with release, environment and people; its events; alice's role grants
    "rollout": 5,
    "rollout_live": 5,
}


# monitoring.readings.environment_figures: the collection cursor, the window sums, the
# latency hours. Constant in history; one set per environment on the Overview.
HEALTH_PER_ENVIRONMENT = 3


def _image(service: str, n: int) -> str:
    return f"us-docker.pkg.dev/acme/app/{service}@sha256:{n % 10}" + "0" * 63


def _history(alice, environments, n: int) -> dict[str, Rollout]:
    """n releases; in each environment n-1 succeeded rollouts and one in canary, the
    canary with n events (analyses among them). Returns the canary per environment."""
    releases = []
    for i in range(n):
        release = Release.objects.create(version=f"1.{i}.0", created_by=alice)
        for name in SERVICES:
            ReleaseArtifact.objects.create(
                release=release, service_name=name, image=_image(name, i)
            )
        releases.append(release)
    canaries = {}
    for env in environments:
        for release in releases[:-1]:
            Rollout.objects.create(
                release=release,
                environment=env,
                started_by=alice,
                state=S.SUCCEEDED,
                steps=[5, 50, 100],
                step=2,
                plan=[{"service": s, "kind": "cloud_run", "image": ""} for s in SERVICES],
                started_at=timezone.now(),
                finished_at=timezone.now(),
                revisions={s: {"canary": f"{s}-{release.pk}"} for s in SERVICES},
                traffic={s: {f"{s}-{release.pk}": 100} for s in SERVICES},
            )
        canary = Rollout.objects.create(
            release=releases[-1],
            environment=env,
            started_by=alice,
            state=S.CANARY,
            steps=[5, 50, 100],
            step=1,
            started_at=timezone.now(),
            traffic={"api-server": {"api-server-old": 50, "api-server-new": 50}},
        )
        for i in range(n):
            RolloutEvent.objects.create(
                rollout=canary,
                kind="analysis" if i % 2 else "step",
                message=f"event {i}",
                data={"service": "api-server", "step": 50, "verdict": "pass"},
            )
        canaries[env.slug] = canary
        for name in SERVICES:  # what the health collector saw: the newest release serving
            LiveService.objects.create(
                environment=env,
                service=name,
                image=_image(name, n - 1),
                traffic=[{"revision": f"{name}-live", "percent": 100, "tag": ""}],
                observed_at=timezone.now(),
            )
    return canaries


def _environment(slug: str) -> Environment:
    environment = Environment.objects.create(
        slug=slug, name=slug.upper(), position=9, gcp_project=f"acme-{slug}", region="eu"
    )
    for i, name in enumerate(SERVICES):
        environment.services.create(name=name, kind=ServiceKind.CLOUD_RUN, position=i)
    return environment


@pytest.fixture
def pages(client, alice, staging, production):
    """Build a history of `n` rows, log alice in, and return the page URLs to measure."""

    def _build(n: int) -> dict[str, str]:
        environments = [staging, production]
        if n == LARGE:  # one environment more: the overview reads them all at once
            environments.append(_environment("qa"))
        canary = _history(alice, environments, n)["staging"]
        client.force_login(alice)
        return {
            "overview": "/",
            "environment": "/deployments/environments/staging/",
            "rollout": f"/deployments/rollouts/{canary.pk}/",
            "rollout_live": f"/deployments/rollouts/{canary.pk}/live/",
        }

    return _build


@pytest.mark.parametrize("rows", [SMALL, LARGE])
@pytest.mark.parametrize("view", sorted(QUERIES))  # not "page": pytest-playwright's fixture
def test_page_query_count_does_not_grow_with_rows(
    client, pages, django_assert_num_queries, view, rows
):
    url = pages(rows)[view]
    expected = QUERIES[view]
    if view == "overview":
        expected += HEALTH_PER_ENVIRONMENT * Environment.objects.count()
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200
    if view == "environment":  # the rows are on the page: their count did not hide them
        assert response.content.count(b'href="/deployments/rollouts/') == rows
        assert f"1.{rows - 1}.0</a>".encode() in response.content  # the live digest's release
