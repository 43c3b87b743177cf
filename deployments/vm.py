"""Deploying a release to a Compute Engine VM (LiveKit): pin the version in metadata,
reset, probe health; on failure put the previous metadata back and reset again.

Every Google call carries a request id derived from the rollout, so a step that runs
twice (a killed worker, a re-enqueued job) is applied once.
"""

from deployments.naming import request_id
from platform_admin import gcp_compute


class VmDeployFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def pinned_metadata(service_name: str, version: str, image: str) -> dict[str, str]:
    """The metadata keys the VM's startup script reads to pick its version."""
    return {f"{service_name}-version": version, f"{service_name}-image": image}


def deploy(rollout, service, image: str, events) -> None:
    """Bring `service` (a gce_vm) to `image`; raises VmDeployFailed after restoring."""
    env = rollout.environment
    record = rollout.revisions.setdefault(service.name, {})
    instance = gcp_compute.get_instance(env.gcp_project, service.zone, service.name)
    wanted = pinned_metadata(service.name, rollout.release.version, image)
    if "previous_metadata" not in record:
        record["previous_metadata"] = {k: instance.metadata.get(k, "") for k in wanted}
    if any(instance.metadata.get(k) != v for k, v in wanted.items()):
        gcp_compute.set_metadata(
            env.gcp_project,
            service.zone,
            service.name,
            wanted,
            instance.fingerprint,
            request_id(rollout.pk, service.name, "metadata"),
        )
    gcp_compute.reset(
        env.gcp_project, service.zone, service.name, request_id(rollout.pk, service.name, "reset")
    )
    record["deployed"] = True
    events.append(("vm", f"{service.name}: metadata pinned to {rollout.release.version}, reset."))
    url = gcp_compute.health_url(env.gcp_project, service.zone, service.name, service.health_url)
    healthy, detail = gcp_compute.probe_health(url)
    if healthy:
        events.append(("health", f"{service.name} healthy after reset: {detail}"))
        return
    restore(rollout, service, events)
    raise VmDeployFailed(
        f"{service.name} failed its health check after the deploy ({detail}); "
        "the previous metadata was restored."
    )


def restore(rollout, service, events) -> None:
    """Put back the metadata recorded before the deploy, then reset (once)."""
    env = rollout.environment
    record = rollout.revisions.get(service.name, {})
    previous = record.get("previous_metadata")
    if not previous or not record.get("deployed"):
        return
    instance = gcp_compute.get_instance(env.gcp_project, service.zone, service.name)
    if any(instance.metadata.get(k, "") != v for k, v in previous.items()):
        gcp_compute.set_metadata(
            env.gcp_project,
            service.zone,
            service.name,
            previous,
            instance.fingerprint,
            request_id(rollout.pk, service.name, "restore-metadata"),
        )
    gcp_compute.reset(
        env.gcp_project,
        service.zone,
        service.name,
        request_id(rollout.pk, service.name, "restore-reset"),
    )
    record["deployed"] = False
    events.append(("vm", f"{service.name}: previous metadata restored, reset."))
