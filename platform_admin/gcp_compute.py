"""Compute Engine v1 for the LiveKit VM: read it, rewrite its metadata, reset it, probe it.

Mutations use the `*_unary` methods with a request id and our own wait loop on
`ZoneOperationsClient.wait`: the library's `ExtendedOperation.result()` polls
compute.googleapis.com even when another endpoint is configured.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from google.api_core import exceptions as gexc

from platform_admin import gcp
from platform_admin.platform_file import METADATA_ADDRESSES

OPERATION_TIMEOUT_SECONDS = 300.0  # a reset of a large VM can take a couple of minutes


@dataclass(frozen=True)
class InstanceState:
    """The parts of a VM the dashboard reads and writes."""

    name: str
    zone: str
    id: str
    status: str
    fingerprint: str
    metadata: dict[str, str]


def _types():
    from google.cloud import compute_v1

    return compute_v1


def _state(inst, zone: str) -> InstanceState:
    return InstanceState(
        name=inst.name,
        zone=zone,
        id=str(inst.id),
        status=inst.status,
        fingerprint=inst.metadata.fingerprint,
        metadata={item.key: item.value for item in inst.metadata.items},
    )


def get_instance(project: str, zone: str, name: str) -> InstanceState:
    """The VM's status, metadata and the fingerprint needed to change that metadata."""
    with gcp.translate(f"reading VM {name} in {zone}", project, api="compute"):
        inst = gcp.instances_client().get(
            project=project,
            zone=zone,
            instance=name,
            timeout=gcp.timeout(),
            retry=gcp.retry_policy(),
        )
    return _state(inst, zone)


def wait_for_operation(project: str, zone: str, operation, what: str, timeout: float) -> None:
    """Block until a zone operation is DONE; `GcpOperationFailed` if it ended in error."""
    client = gcp.zone_operations_client()
    _wait(project, operation, what, timeout, "compute", lambda kw: client.wait(zone=zone, **kw))


def _wait(project: str, operation, what: str, timeout: float, api: str, wait) -> None:
    """Call `wait` (an operations client's `wait`, its scope bound) until the operation is
    DONE or `timeout` passed; `GcpOperationFailed` if it ended in error."""
    done = _types().Operation.Status.DONE
    deadline = time.monotonic() + timeout
    while operation.status != done:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise gcp.GcpUnavailable(
                f"{what} on project {project} is still running after {timeout:.0f} s "
                f"(operation {operation.name}); look again later"
            )
        with gcp.translate(f"waiting for {what}", project, api=api):
            try:
                # Returns when the operation is done or after ~2 minutes, whichever first.
                operation = wait(
                    {
                        "project": project,
                        "operation": operation.name,
                        "timeout": remaining,
                        "retry": gcp.retry_policy(remaining),
                    }
                )
            except (requests.exceptions.Timeout, gexc.GatewayTimeout):
                continue  # our budget ran out mid-wait: the deadline check above reports it
    if operation.error.errors:
        detail = "; ".join(e.message or e.code for e in operation.error.errors)
        raise gcp.GcpOperationFailed(f"{what} failed on project {project}: {detail}")


def set_metadata(
    project: str,
    zone: str,
    name: str,
    items: dict[str, str],
    fingerprint: str,
    request_id: str,
    timeout: float | None = None,
) -> InstanceState:
    """Replace the VM's metadata with `items` (the full set) and wait until applied.

    `fingerprint` comes from the `InstanceState` the caller merged into; if the metadata
    changed since, Google refuses (`GcpInvalidRequest`). `request_id` (a UUID) makes a
    retried call harmless.
    """
    compute_v1 = _types()
    body = compute_v1.Metadata(
        fingerprint=fingerprint,
        items=[compute_v1.Items(key=k, value=v) for k, v in items.items()],
    )
    what = f"setting metadata of VM {name} in {zone}"
    with gcp.translate(what, project, api="compute"):
        try:
            operation = gcp.instances_client().set_metadata_unary(
                request=compute_v1.SetMetadataInstanceRequest(
                    project=project,
                    zone=zone,
                    instance=name,
                    metadata_resource=body,
                    request_id=request_id,
                ),
                timeout=gcp.timeout(),
                retry=gcp.retry_policy(),  # safe: the request id deduplicates retries
            )
        except gexc.PreconditionFailed as exc:
            raise gcp.GcpInvalidRequest(
                f"the metadata of VM {name} on project {project} changed after it was read "
                "(stale fingerprint): read the instance again, merge the change and retry"
            ) from exc
    wait_for_operation(project, zone, operation, what, timeout or OPERATION_TIMEOUT_SECONDS)
    return get_instance(project, zone, name)


def reset(project: str, zone: str, name: str, request_id: str, timeout: float | None = None):
    """Hard-reset the VM (like pressing the reset button) and wait for the operation."""
    what = f"resetting VM {name} in {zone}"
    with gcp.translate(what, project, api="compute"):
        operation = gcp.instances_client().reset_unary(
            request=_types().ResetInstanceRequest(
                project=project, zone=zone, instance=name, request_id=request_id
            ),
            timeout=gcp.timeout(),
            retry=gcp.retry_policy(),  # safe: the request id deduplicates retries
        )
    wait_for_operation(project, zone, operation, what, timeout or OPERATION_TIMEOUT_SECONDS)


def health_url(project: str, zone: str, name: str, configured_url: str) -> str:
    """Where to probe the VM: the sandbox's stand-in, or the configured URL in production."""
    endpoint = settings.GCP_API_ENDPOINT
    if endpoint:
        return f"{endpoint.rstrip('/')}/sandbox/v1/health/{project}/{zone}/{name}"
    return configured_url


def link_local_target(url: str) -> str:
    """Why `url` must not be probed: its host resolves to a link-local or metadata
    address (the platform file refuses such URLs; a name can still resolve there)."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = [ipaddress.ip_address(host.split("%", 1)[0])]  # an address literal
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return ""  # unresolvable: the probe itself reports it unreachable
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    for address in addresses:
        if address.is_link_local or address in METADATA_ADDRESSES:
            return f"{host} resolves to {address}, a link-local address: not probed"
    return ""


def probe_health(
    url: str, attempts: int = 5, interval: float = 1.0, timeout: float = 5.0
) -> tuple[bool, str]:
    """GET `url` until it answers 2xx (True) or `attempts` run out (False).

    The detail names the last status or error, for the rollout log.
    """
    refused = link_local_target(url)
    if refused:
        return False, refused
    detail = "not probed"
    for attempt in range(1, attempts + 1):
        try:
            # Never follow a redirect: it could lead the probe to the metadata server.
            response = requests.get(url, timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            detail = f"attempt {attempt}/{attempts}: {url} unreachable: {type(exc).__name__}"
        else:
            if 200 <= response.status_code < 300:
                return True, f"{url} answered {response.status_code} (attempt {attempt})"
            if response.is_redirect:
                where = response.headers.get("Location", "")
                return False, f"{url} redirected to {where}: a health URL must answer itself"
            detail = f"attempt {attempt}/{attempts}: {url} answered {response.status_code}"
        if attempt < attempts:
            time.sleep(interval)
    return False, detail


def invalidate_cdn(
    project: str, url_map: str, paths: dict[str, str], timeout: float | None = None
) -> None:
    """Invalidate Cloud CDN's cached copies of each path behind `url_map` ({path: request
    id}), all started before any is waited for; returns once every one is done (the next
    visitor then gets the bucket's object)."""
    compute_v1 = _types()
    operations = []
    for path, request_id in paths.items():
        what = f"invalidating the CDN cache of {path} on URL map {url_map}"
        with gcp.translate(what, project, api="cdn"):
            operation = gcp.url_maps_client().invalidate_cache_unary(
                request=compute_v1.InvalidateCacheUrlMapRequest(
                    project=project,
                    url_map=url_map,
                    cache_invalidation_rule_resource=compute_v1.CacheInvalidationRule(path=path),
                    request_id=request_id,
                ),
                timeout=gcp.timeout(),
                retry=gcp.retry_policy(),  # safe: the request id deduplicates retries
            )
        operations.append((operation, what))
    deadline = time.monotonic() + (timeout or OPERATION_TIMEOUT_SECONDS)
    client = gcp.global_operations_client()
    for operation, what in operations:
        left = max(deadline - time.monotonic(), 1.0)
        _wait(project, operation, what, left, "cdn", lambda kw: client.wait(**kw))
