"""The static-site side of a health pass against the sandbox's Cloud Storage: the live
build (its index.html's), the public URL's answer as an uptime sample, on the pages."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from datetime import UTC, datetime, timedelta

from monitoring import collect
from monitoring.collect import HOUR, MINUTE, floor_to
from monitoring.models import HealthSample, LiveService
from tests.deployments.conftest import gcp, sandbox_server  # noqa: F401

SITE = "frontend"
SEEDED = "gs://acme-staging-frontend-builds/frontend/builds/1.0.0/"


def _now() -> datetime:
    return floor_to(datetime.now(UTC), HOUR) - timedelta(minutes=30) + timedelta(seconds=7)


def test_a_pass_records_the_sites_live_build_and_its_public_url_answer(gcp, staging):
    now = _now()
    collect.sample_environment(staging, now)

    live = LiveService.objects.get(environment=staging, service=SITE)
    assert (live.kind, live.image, live.ready) == ("static_site", SEEDED, True)
    assert "answered 200" in live.detail["probe_detail"]
    [sample] = HealthSample.objects.filter(environment=staging, service=SITE)
    assert (sample.time, sample.revision) == (floor_to(now, MINUTE) - MINUTE, SEEDED)
    assert (sample.requests, sample.errors_5xx) == (1, 0)


def test_the_pages_show_the_sites_live_build_and_its_release(gcp, staging, client, alice):
    from deployments.services import create_release

    create_release(alice, "1.0.0", {SITE: SEEDED})
    collect.sample_environment(staging, _now())
    client.force_login(alice)

    health = client.get("/health/staging/").content.decode()
    section = health.split('data-service="frontend"', 1)[1].split("</section>", 1)[0]
    assert f"build <code>{SEEDED}</code> release 1.0.0" in section
    assert "public URL answers" in section
    environment = client.get("/deployments/environments/staging/").content.decode()
    assert SEEDED in environment
