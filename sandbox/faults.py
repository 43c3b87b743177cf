"""Fault profiles: how a revision or VM behaves, and injected API failures."""

import re

from . import det
from .errors import ApiError

HEALTHY_ERROR_RATE = 0.0002  # a fifth of a 99.9 % SLO's budget: a healthy demo is healthy
FAULTY_TAG_ERROR_RATE = 0.05
CLIENT_ERROR_RATE = 0.002  # 4xx: present in real traffic, never counted as server errors
# Billable instance time per request served (seconds): what an image costs to run. An
# image tagged -costly takes twice as long per request (a fault may set `cost_factor`).
INSTANCE_SECONDS_PER_REQUEST = 0.05
COSTLY_TAG_FACTOR = 2.0


def image_tag(image: str) -> str:
    """The tag of `repo/name:tag@sha256:...` ('' when the image has none)."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def _image_matches(pattern: str, image: str) -> bool:
    # A fault may name the full reference or only the part before the digest.
    return image == pattern or image.split("@", 1)[0] == pattern.split("@", 1)[0] != ""


def revision_profile(state, project: str, service: str, image: str, revision: str) -> dict:
    """error_rate, p95_ms, ready and cost_factor for a revision built from `image`."""
    profile = {
        "error_rate": HEALTHY_ERROR_RATE,
        # Healthy P95 between 80 and 120 ms, fixed per revision.
        "p95_ms": 80.0 + 40.0 * det.unit("p95", project, revision),
        "ready": True,
        "cost_factor": 1.0,
    }
    if image_tag(image).endswith("-faulty"):
        profile["error_rate"] = FAULTY_TAG_ERROR_RATE
    if image_tag(image).endswith("-costly"):
        profile["cost_factor"] = COSTLY_TAG_FACTOR
    for fault in state.data["faults"]:
        if fault.get("project") not in (None, "", project):
            continue
        if fault.get("service") not in (None, "", service):
            continue
        if _image_matches(fault.get("image", ""), image):
            keys = ("error_rate", "p95_ms", "ready", "ready_delay", "cost_factor")
            profile.update({k: fault[k] for k in keys if k in fault})
    return profile


def vm_healthy(state, project: str, instance: str, version: str) -> bool:
    for fault in state.data["vm_faults"]:
        if fault.get("project") not in (None, "", project) or fault["instance"] != instance:
            continue
        if fault.get("version") in (None, "", version):
            return bool(fault.get("healthy", True))
    return True


def site_fault(state, bucket: str) -> dict:
    """The newest fault of the site served from `bucket`: `stale` (its CDN keeps serving
    what it cached, invalidations or not), `invalidation_delay` (seconds an invalidation
    takes)."""
    for fault in state.data.setdefault("site_faults", []):
        if fault["site"] == bucket:
            return fault
    return {}


def add_fault(state, fault: dict) -> dict:
    """Register a Cloud Run fault (has `image`), a VM fault (has `instance`) or a static
    site's (has `site`, its bucket)."""
    if "site" in fault:
        state.data.setdefault("site_faults", []).insert(0, fault)
    elif "instance" in fault:
        state.data["vm_faults"].insert(0, fault)  # newest wins
    elif "image" in fault:
        state.data["faults"].append(fault)  # applied in order: later ones override
    else:
        raise ApiError(400, "A fault needs `image` (Cloud Run), `instance` (VM) or `site`.")
    return fault


def add_api_fault(state, fault: dict) -> dict:
    try:
        re.compile(fault.get("path_regex", ""))
        status = int(fault.get("status", 503))
    except (re.error, ValueError) as exc:
        raise ApiError(400, f"Bad api-fault: {exc}") from exc
    entry = {
        "method": (fault.get("method") or "*").upper(),
        "path_regex": fault.get("path_regex", ""),
        "status": status,
        "times": int(fault.get("times", 1)),
        "message": fault.get("message", "The service is currently unavailable (injected)."),
        # A malformed answer instead of an error: REST gets an HTML page with status 200,
        # Monitoring series whose points hold booleans where numbers belong.
        "malformed": bool(fault.get("malformed", False)),
    }
    state.data["api_faults"].append(entry)
    return entry


class Malformed(Exception):
    """An injected malformed answer (see `add_api_fault`)."""


def take_api_fault(state, method: str, path: str) -> Exception | None:
    """Consume one matching injected failure, if any: an ApiError, or Malformed.
    gRPC calls use method 'GRPC'."""
    with state.lock:
        for fault in state.data["api_faults"]:
            if fault["method"] not in ("*", method) or not re.search(fault["path_regex"], path):
                continue
            fault["times"] -= 1
            if fault["times"] <= 0:
                state.data["api_faults"].remove(fault)
            if fault.get("malformed"):
                return Malformed(fault["message"])
            return ApiError(fault["status"], fault["message"])
    return None
