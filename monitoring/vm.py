"""The VM side of a health pass: instance status, the health probe's answer, the version
its metadata pins, CPU utilisation.

The probe is an uptime check: each pass writes one minute sample per VM (one "request",
one "error" when the probe failed or the instance is not RUNNING), so hourly rollups,
30-day uptime and the SLO months count the VM like any service. Its history starts with
the dashboard's own probes: Google keeps none to backfill from.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings

from monitoring.models import HealthSample, LiveKind, LiveService, Resolution
from platform_admin import gcp, gcp_compute, gcp_monitoring
from platform_admin.models import Environment, ServiceKind

log = logging.getLogger(__name__)

CPU_WINDOW = timedelta(minutes=5)
PROBE_MINUTE = timedelta(minutes=1)


def observe(environment: Environment, now: datetime) -> list[HealthSample]:
    """Read every VM of the environment (Google calls, no transaction held); returns
    the probe samples to write. The live-state rows are updated here."""
    vms = environment.services.filter(kind=ServiceKind.GCE_VM)
    return [_observe_one(environment, service, now) for service in vms]


def _observe_one(environment, service, now: datetime) -> HealthSample:
    project, zone = environment.gcp_project, service.zone
    try:
        instance = gcp_compute.get_instance(project, zone, service.name)
    except gcp.GcpError as exc:
        status, pinned, ok, detail, cpu = "unknown", "", False, str(exc), None
    else:
        status = instance.status
        pinned = instance.metadata.get(f"{service.name}-version", "")
        url = gcp_compute.health_url(project, zone, service.name, service.health_url)
        ok, detail = (
            gcp_compute.probe_health(url, attempts=1, timeout=settings.VM_PROBE_TIMEOUT_SECONDS)
            if url
            else (False, "no health_url configured")
        )
        cpu = _cpu(project, instance.id, now)
    up = ok and status == "RUNNING"
    LiveService.objects.update_or_create(
        environment=environment,
        service=service.name,
        defaults={
            "kind": LiveKind.GCE_VM,
            "traffic": [],
            "image": pinned,
            "latest_ready_revision": "",
            "status": status,
            "ready": up,
            "detail": {
                "probe_ok": ok,
                "probe_version": pinned,
                "probe_detail": detail[:500],
                "cpu_utilization": cpu,
            },
            "observed_at": now,
        },
    )
    return probe_sample(environment, service.name, now, pinned, up)


def probe_sample(environment, service: str, now: datetime, revision: str, up: bool):
    """One probe as a minute sample: one "request", one "error" when it failed."""
    return HealthSample(
        environment=environment,
        resolution=Resolution.MINUTE,
        # The minute the probe closes: the last complete minute, like the Cloud Run
        # samples of the same pass, so "the last 5 minutes" include it.
        time=now.replace(second=0, microsecond=0) - PROBE_MINUTE,
        service=service,
        revision=revision or "unknown",
        requests=1,
        errors_5xx=0 if up else 1,
    )


def _cpu(project: str, instance_id: str, now: datetime) -> float | None:
    try:
        return gcp_monitoring.vm_cpu_utilization(project, instance_id, now - CPU_WINDOW, now)
    except gcp.GcpError as exc:  # the probe still counts without the CPU figure
        log.warning("CPU utilisation of VM %s unavailable: %s", instance_id, exc)
        return None
