"""Deploying a release to a Compute Engine VM (LiveKit): pin the version in metadata,
reset, probe health; on failure put the previous metadata back and reset again.

`set_metadata` replaces the VM's whole metadata set, so every write is the instance's
current metadata with our keys merged in: keys we do not own (`startup-script`, ...)
survive a deploy and a restore.

Every Google call carries a request id derived from the rollout, so a step that runs
twice (a killed worker, a re-enqueued job) is applied once.
"""

from django.conf import settings

from deployments.naming import request_id
from platform_admin import gcp_compute


class VmDeployFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def pinned_metadata(service_name: str, version: str, image: str) -> dict[str, str]:
    """The metadata keys the VM's startup script reads to pick its version."""
    return {f"{service_name}-version": version, f"{service_name}-image": image}


def merged_metadata(current: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """`current` with `changes` applied; a None value removes the key."""
    merged = {**current, **changes}
    return {key: value for key, value in merged.items() if value is not None}


def deploy(rollout, service, image: str, events) -> None:
    """Bring `service` (a gce_vm) to `image`; raises VmDeployFailed after restoring."""
    env = rollout.environment
    record = rollout.revisions.setdefault(service.name, {})
    instance = gcp_compute.get_instance(env.gcp_project, service.zone, service.name)
    wanted = pinned_metadata(service.name, rollout.release.version, image)
    if "previous_metadata" not in record:
        # None marks a key the VM did not have: a restore removes it again.
        record["previous_metadata"] = {k: instance.metadata.get(k) for k in wanted}
    pinned = merged_metadata(instance.metadata, wanted)
    _write_metadata(rollout, service, instance, pinned, "metadata")
    _reset(rollout, service, "reset")
    record["deployed"] = True
    events.append(("vm", f"{service.name}: metadata pinned to {rollout.release.version}, reset."))
    url = gcp_compute.health_url(env.gcp_project, service.zone, service.name, service.health_url)
    healthy, detail = probe_health(url)
    if healthy:
        events.append(("health", f"{service.name} healthy after reset: {detail}"))
        return
    events.append(("health", f"{service.name} failed its health check after reset: {detail}"))
    restore(rollout, service, events)
    raise VmDeployFailed(
        f"{service.name} failed its health check after the deploy ({detail}); "
        "the previous metadata was restored."
    )


def restore(rollout, service, events) -> None:
    """Put back the metadata recorded before the deploy, then reset (once).

    Also after a deploy that stopped half-way (metadata written, reset refused): the
    metadata, not a flag, says whether there is anything to put back."""
    env = rollout.environment
    record = rollout.revisions.get(service.name, {})
    previous = record.get("previous_metadata")
    if not previous:
        return
    instance = gcp_compute.get_instance(env.gcp_project, service.zone, service.name)
    restored = merged_metadata(instance.metadata, previous)
    if restored == instance.metadata and not record.get("deployed"):
        return
    _write_metadata(rollout, service, instance, restored, "restore-metadata")
    _reset(rollout, service, "restore-reset")
    record["deployed"] = False
    events.append(("vm", f"{service.name}: previous metadata restored, reset."))


def probe_health(url: str) -> tuple[bool, str]:
    """Probe with the configured patience (settings override the defaults above)."""
    return gcp_compute.probe_health(
        url,
        attempts=settings.VM_HEALTH_ATTEMPTS,
        interval=settings.VM_HEALTH_INTERVAL_SECONDS,
    )


def _write_metadata(rollout, service, instance, items: dict[str, str], step: str) -> None:
    """Write the full metadata set `items` unless the VM already has exactly that.

    `step` names the call in its request id, so a re-run of the step is applied once.
    """
    if items == instance.metadata:
        return
    gcp_compute.set_metadata(
        rollout.environment.gcp_project,
        service.zone,
        service.name,
        items,
        instance.fingerprint,
        request_id(rollout.pk, service.name, step),
    )


def _reset(rollout, service, step: str) -> None:
    gcp_compute.reset(
        rollout.environment.gcp_project,
        service.zone,
        service.name,
        request_id(rollout.pk, service.name, step),
    )
