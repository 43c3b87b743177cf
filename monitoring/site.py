"""The static-site side of a health pass: the build its serving bucket's `index.html`
belongs to, and whether the public URL answers (an uptime check, counted like a VM's
probe: one "request" a pass, one "error" when the page did not answer 200)."""

from datetime import datetime

from monitoring.models import HealthSample, LiveKind, LiveService
from monitoring.vm import probe_sample
from platform_admin import gcp, gcp_storage
from platform_admin.models import Environment, ServiceKind

INDEX = "index.html"


def observe(environment: Environment, now: datetime) -> list[HealthSample]:
    """Read every static site of the environment (Google calls, no transaction held);
    returns the probe samples to write. The live-state rows are updated here."""
    sites = environment.services.filter(kind=ServiceKind.STATIC_SITE).exclude(bucket="")
    return [_observe_one(environment, service, now) for service in sites]


def _observe_one(environment, service, now: datetime) -> HealthSample:
    try:
        listing = gcp_storage.list_objects(environment.gcp_project, service.bucket, INDEX)
    except gcp.GcpError as exc:
        build, status = "", f"unknown: {exc}"
    else:
        index = listing.get("")  # the name relative to the prefix "index.html"
        build = index.metadata.get("build", "") if index else ""
        status = "serving" if index else f"no {INDEX} in gs://{service.bucket}"
    url = gcp_storage.public_url(service.bucket, service.public_url)
    code, _, detail = gcp_storage.fetch_page(url)
    up = code == 200
    LiveService.objects.update_or_create(
        environment=environment,
        service=service.name,
        defaults={
            "kind": LiveKind.STATIC_SITE,
            "traffic": [],
            "image": build,
            "latest_ready_revision": "",
            "status": status[:200],
            "ready": up,
            "detail": {"probe_ok": up, "probe_detail": detail[:500], "public_url": url},
            "observed_at": now,
        },
    )
    return probe_sample(environment, service.name, now, build, up)
