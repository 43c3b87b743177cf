"""Cloud Run Admin API v2: read services and revisions, deploy a revision, move traffic.

Everything returns plain frozen dataclasses. Revision names are short names
(`api-server-00002-abc`) throughout; Google's full resource names stay inside.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from google.api_core import exceptions as gexc
from google.api_core.future import polling
from google.protobuf import field_mask_pb2

from platform_admin import gcp

# A Cloud Run deploy usually takes well under a minute; a cold image pull can take longer.
OPERATION_TIMEOUT_SECONDS = 300.0
REVISION_POLL_SECONDS = 1.0
# How often to look at a running operation: soon at first, then backing off. A traffic
# update is often done within a second; the client's default (a first wait of up to 1 s,
# growing ×1.5 to 20 s) made every step wait for it. Each look is one cheap GET.
OPERATION_POLLING = polling.DEFAULT_POLLING.with_delay(initial=0.1, maximum=5.0, multiplier=1.5)


@dataclass(frozen=True)
class TrafficTarget:
    """One entry of a traffic split; `revision=None` means "whatever is LATEST"."""

    revision: str | None
    percent: int
    tag: str = ""


@dataclass(frozen=True)
class RevisionInfo:
    """A revision as the dashboard needs it."""

    name: str
    image: str
    ready: bool
    failed_message: str
    created: datetime | None


@dataclass(frozen=True)
class ServiceState:
    """A service's template and its actual traffic split (from trafficStatuses)."""

    name: str
    image: str
    template_revision: str
    latest_ready_revision: str
    latest_created_revision: str
    traffic: tuple[TrafficTarget, ...]
    etag: str
    ready: bool | None = None  # the service's terminal condition; None = not reported
    status: str = ""  # that condition in words

    def percent_of(self, revision: str) -> int:
        """Share of traffic `revision` receives now (LATEST entries already resolved)."""
        return sum(t.percent for t in self.traffic if t.revision == revision)


def _types():
    from google.cloud import run_v2

    return run_v2


def service_path(project: str, region: str, service: str) -> str:
    return f"projects/{project}/locations/{region}/services/{service}"


def short_name(name: str) -> str:
    return name.rsplit("/", 1)[-1] if name else ""


def plain_time(value) -> datetime | None:
    # proto-plus gives DatetimeWithNanoseconds (or None when unset); hand out a plain one.
    if value is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _traffic(svc) -> tuple[TrafficTarget, ...]:
    # Statuses are what serves now and name the revision LATEST resolved to; the spec
    # entries (a fallback while Google has no statuses) leave LATEST unnamed (None).
    entries = svc.traffic_statuses or svc.traffic
    return tuple(TrafficTarget(t.revision or None, t.percent, t.tag) for t in entries)


def _state(svc) -> ServiceState:
    containers = svc.template.containers
    return ServiceState(
        name=short_name(svc.name),
        image=containers[0].image if containers else "",
        template_revision=svc.template.revision,
        latest_ready_revision=short_name(svc.latest_ready_revision),
        latest_created_revision=short_name(svc.latest_created_revision),
        traffic=_traffic(svc),
        etag=svc.etag,
        **_terminal(svc),
    )


def _terminal(svc) -> dict:
    """The service's Ready condition: whether it serves as asked, and why not."""
    condition = svc.terminal_condition
    if not condition or not condition.type_:
        return {"ready": None, "status": ""}
    states = _types().Condition.State
    ready = condition.state == states.CONDITION_SUCCEEDED
    if ready:
        return {"ready": True, "status": "Ready"}
    reconciling = condition.state in (states.CONDITION_PENDING, states.CONDITION_RECONCILING)
    words = "Reconciling" if reconciling else "Not ready"
    return {"ready": None if reconciling else False, "status": f"{words}: {condition.message}"}


def _revision_info(rev) -> RevisionInfo:
    cond_state = _types().Condition.State
    ready = next((c for c in rev.conditions if c.type_ == "Ready"), None)
    failed = ready is not None and ready.state == cond_state.CONDITION_FAILED
    return RevisionInfo(
        name=short_name(rev.name),
        image=rev.containers[0].image if rev.containers else "",
        ready=ready is not None and ready.state == cond_state.CONDITION_SUCCEEDED,
        failed_message=(ready.message or "the revision failed") if failed else "",
        created=plain_time(rev.create_time),
    )


def _get_raw_service(project: str, region: str, service: str):
    with gcp.translate(f"reading Cloud Run service {service}", project, api="run"):
        return gcp.run_services_client().get_service(
            name=service_path(project, region, service),
            timeout=gcp.timeout(),
            retry=gcp.retry_policy(),
        )


def get_service(project: str, region: str, service: str) -> ServiceState:
    """The service's template image, latest revisions and actual traffic split."""
    return _state(_get_raw_service(project, region, service))


def list_revisions(
    project: str, region: str, service: str, page_size: int | None = None
) -> list[RevisionInfo]:
    """Every revision of the service (all pages), newest first as Google orders them."""
    request = {"parent": service_path(project, region, service)}
    if page_size:
        request["page_size"] = page_size
    with gcp.translate(f"listing revisions of Cloud Run service {service}", project, "run"):
        pager = gcp.run_revisions_client().list_revisions(
            request=request, timeout=gcp.timeout(), retry=gcp.retry_policy()
        )
        return [_revision_info(rev) for rev in pager]  # iterating fetches the next pages


def get_revision(project: str, region: str, service: str, revision: str) -> RevisionInfo:
    """One revision by short name; `GcpNotFound` when it does not exist."""
    what = f"reading revision {revision} of Cloud Run service {service}"
    with gcp.translate(what, project, api="run"):
        rev = gcp.run_revisions_client().get_revision(
            name=f"{service_path(project, region, service)}/revisions/{revision}",
            timeout=gcp.timeout(),
            retry=gcp.retry_policy(),
        )
    return _revision_info(rev)


def _settled_revision(project, region, service, revision, deadline: float) -> RevisionInfo:
    """Poll until the revision is ready or failed (it may still be starting)."""
    while True:
        info = get_revision(project, region, service, revision)
        if info.ready or info.failed_message:
            return info
        if time.monotonic() >= deadline:
            raise gcp.GcpUnavailable(
                f"revision {revision} of Cloud Run service {service} on project {project} "
                "is still starting; look again later"
            )
        time.sleep(REVISION_POLL_SECONDS)


def _failed(service: str, revision: str, project: str, message: str) -> gcp.GcpOperationFailed:
    return gcp.GcpOperationFailed(
        f"revision {revision} of Cloud Run service {service} on project {project} "
        f"did not become ready: {message}"
    )


def _pinned_traffic(current: ServiceState, new_revision: str, tag: str) -> list:
    """Today's actual split, every entry pinned to its revision, plus the new one at 0%."""
    run_v2 = _types()
    by_revision = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
    out = []
    for t in current.traffic:
        revision = t.revision or current.latest_ready_revision
        kept_tag = "" if t.tag == tag else t.tag  # the tag moves to the new revision
        if not revision or (t.percent == 0 and not kept_tag):
            continue
        out.append(
            run_v2.TrafficTarget(
                type_=by_revision, revision=revision, percent=t.percent, tag=kept_tag
            )
        )
    out.append(run_v2.TrafficTarget(type_=by_revision, revision=new_revision, percent=0, tag=tag))
    return out


def _update(project: str, what: str, body, paths: list[str], deadline: float):
    """PATCH the service and wait for the operation; returns the final Service."""
    with gcp.translate(what, project, api="run"):
        operation = gcp.run_services_client().update_service(
            service=body,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
            timeout=gcp.timeout(),
            # Idempotent: callers send an explicit revision name or an absolute split.
            retry=gcp.retry_policy(),
        )
        try:
            return operation.result(
                timeout=max(deadline - time.monotonic(), 1.0),
                retry=gcp.retry_policy(),
                polling=OPERATION_POLLING,
            )
        except gexc.GoogleAPICallError as exc:
            if operation.operation.done and operation.operation.error.code:
                raise gcp.GcpOperationFailed(
                    f"{what} failed on project {project}: {operation.operation.error.message}"
                ) from exc
            raise


def deploy_revision(
    project: str,
    region: str,
    service: str,
    image: str,
    revision: str,
    tag: str = "canary",
    timeout: float | None = None,
    resources: dict | None = None,
) -> ServiceState:
    """Create revision `revision` running `image`, tagged `tag`, at 0% traffic; with
    `resources` ({"cpu", "memory", "min_instances", "max_instances", "concurrency"}, any
    of them: cpu and memory as Cloud Run's quantities, "2" and "4Gi") the revision runs
    with those, else with what the service's template says.

    Traffic stays exactly where it is (pinned by revision name). Waits until the revision
    is ready; raises `GcpOperationFailed` when it fails. Calling it again once the
    service's template names the revision returns (ready) or raises (failed) without a
    second update. Two calls when the operation reports the revision ready: a read, the
    update.
    """
    if not revision.startswith(f"{service}-"):
        raise gcp.GcpInvalidRequest(
            f"revision name {revision!r} must start with the service name '{service}-'"
        )
    deadline = time.monotonic() + (timeout or OPERATION_TIMEOUT_SECONDS)
    raw = _get_raw_service(project, region, service)
    if raw.template.revision != revision:
        raw.template.revision = revision
        raw.template.containers[0].image = image
        _set_resources(raw.template, resources or {})
        body = _types().Service(
            name=raw.name,
            template=raw.template,
            traffic=_pinned_traffic(_state(raw), revision, tag),
        )
        what = f"deploying revision {revision} to Cloud Run service {service}"
        after = _state(_update(project, what, body, ["template", "traffic"], deadline))
        if after.latest_ready_revision == revision:
            return after  # the operation ended with the new revision ready
    # Deployed by an earlier call (the template names it already), or the operation ended
    # before the revision did (a repeated PATCH is a no-op): look at the revision itself.
    info = _settled_revision(project, region, service, revision, deadline)
    if not info.ready:
        raise _failed(service, revision, project, info.failed_message)
    return get_service(project, region, service)


def _set_resources(template, resources: dict) -> None:
    limits = template.containers[0].resources.limits
    if "cpu" in resources:
        limits["cpu"] = str(resources["cpu"])
    if "memory" in resources:
        limits["memory"] = str(resources["memory"])
    if "min_instances" in resources:
        template.scaling.min_instance_count = int(resources["min_instances"])
    if "max_instances" in resources:
        template.scaling.max_instance_count = int(resources["max_instances"])
    if "concurrency" in resources:
        template.max_instance_request_concurrency = int(resources["concurrency"])


def validate_split(service: str, targets: list[TrafficTarget]) -> None:
    """Reject a split Google would reject, before calling it (GcpInvalidRequest)."""
    if not targets:
        raise gcp.GcpInvalidRequest(f"traffic split for Cloud Run service {service} is empty")
    for t in targets:
        if not 0 <= t.percent <= 100:
            raise gcp.GcpInvalidRequest(
                f"traffic for revision {t.revision or 'LATEST'} of Cloud Run service {service} "
                f"is {t.percent}%; each share must be between 0 and 100"
            )
    total = sum(t.percent for t in targets)
    if total != 100:
        shares = ", ".join(f"{t.revision or 'LATEST'} {t.percent}%" for t in targets)
        raise gcp.GcpInvalidRequest(
            f"traffic split for Cloud Run service {service} adds up to {total}% ({shares}); "
            "it must add up to 100%"
        )


def set_traffic(
    project: str,
    region: str,
    service: str,
    targets: list[TrafficTarget],
    timeout: float | None = None,
) -> ServiceState:
    """Replace the traffic split with exactly `targets` and wait until it is applied."""
    validate_split(service, targets)
    run_v2 = _types()
    kinds = run_v2.TrafficTargetAllocationType
    traffic = [
        run_v2.TrafficTarget(
            type_=kinds.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
            if t.revision
            else kinds.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
            revision=t.revision or "",
            percent=t.percent,
            tag=t.tag,
        )
        for t in targets
    ]
    body = run_v2.Service(name=service_path(project, region, service), traffic=traffic)
    deadline = time.monotonic() + (timeout or OPERATION_TIMEOUT_SECONDS)
    what = f"updating traffic of Cloud Run service {service}"
    return _state(_update(project, what, body, ["traffic"], deadline))
