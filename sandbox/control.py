"""The sandbox's own control API: faults, reset, state and the request log."""

from . import cloudrun, compute, faults
from .cloudrun_model import effective_split
from .errors import ApiError


def add_fault(state, req, m):
    fault = faults.add_fault(state, dict(req.body or {}))
    state.save()
    return 200, {"fault": fault}


def clear_faults(state, req, m):
    state.data["faults"].clear()
    state.data["vm_faults"].clear()
    state.save()
    return 200, {}


def add_api_fault(state, req, m):
    fault = faults.add_api_fault(state, dict(req.body or {}))
    return 200, {"apiFault": fault}


def reset(state, req, m):
    state.reset()
    return 200, {"reset": True}


def snapshot(state, req, m):
    """Everything a test or a person debugging the demo wants to see, in one document."""
    services = {}
    for name, svc in state.data["services"].items():
        services[name] = {
            **cloudrun.render_service(svc),
            "split": effective_split(svc),
            "history": state.data["history"].get(name, []),
        }
    revisions = {
        name: {
            "image": r["image"],
            "ready": r["ready"],
            "service": r["service"],
            "message": r["message"],
        }
        for name, r in state.data["revisions"].items()
    }
    instances = {
        key: compute.render_instance(i, req.now) for key, i in state.data["instances"].items()
    }
    sites = {
        bucket: {
            "urlMap": site["url_map"],
            "objects": {
                name: {k: obj[k] for k in ("md5Hash", "cacheControl", "metadata", "generation")}
                for name, obj in sorted(state.data["buckets"].get(bucket, {}).items())
            },
            "cached": sorted(state.data["cdn"].get(bucket, {})),
        }
        for bucket, site in state.data["sites"].items()
    }
    return 200, {
        "services": services,
        "sites": sites,
        "revisions": revisions,
        "instances": instances,
        "faults": state.data["faults"],
        "vmFaults": state.data["vm_faults"],
        "siteFaults": state.data.get("site_faults", []),
        "apiFaults": state.data["api_faults"],
        "requestCount": len(state.request_log),
        "options": {"rps": state.options.rps, "readyDelay": state.options.ready_delay},
    }


def requests(state, req, m):
    try:
        since = int(req.query.get("since") or 0)
    except ValueError as exc:
        raise ApiError(400, "since must be an integer") from exc
    entries = state.requests_since(since)
    return 200, {"requests": entries, "next": since + len(entries)}


ROUTES = [
    ("POST", r"/sandbox/v1/faults", add_fault),
    ("DELETE", r"/sandbox/v1/faults", clear_faults),
    ("POST", r"/sandbox/v1/api-faults", add_api_fault),
    ("POST", r"/sandbox/v1/reset", reset),
    ("GET", r"/sandbox/v1/state", snapshot),
    ("GET", r"/sandbox/v1/requests", requests),
]
