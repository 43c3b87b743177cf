"""Cloud Run Admin API v2 over REST: services, revisions and operations."""

from . import cloudrun_model as model
from . import det
from .errors import ApiError, not_found

SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
TYPE_OUT = {
    model.LATEST: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
    model.REVISION: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
}
PARENT = r"/v2/(?P<parent>projects/[^/]+/locations/[^/]+)"
SERVICE = PARENT + r"/services/(?P<service>[^/:]+)"


def _target(t: dict, svc: dict, with_uri: bool) -> dict:
    out = {"type": TYPE_OUT[t["type"]], "percent": t["percent"]}
    if t["type"] == model.LATEST and with_uri:
        out["revision"] = svc["latestReady"]  # statuses show what LATEST resolved to
    elif t["revision"]:
        out["revision"] = t["revision"]
    if t["tag"]:
        out["tag"] = t["tag"]
        if with_uri:
            out["uri"] = f"https://{t['tag']}---{svc['host']}"
    return {k: v for k, v in out.items() if v != 0 or k == "percent"}


def _condition(ok: bool, message: str, when: float, reconciling: bool) -> dict:
    if reconciling:
        return {
            "type": "Ready",
            "state": "CONDITION_RECONCILING",
            "lastTransitionTime": det.rfc3339(when),
        }
    cond = {
        "type": "Ready",
        "state": "CONDITION_SUCCEEDED" if ok else "CONDITION_FAILED",
        "lastTransitionTime": det.rfc3339(when),
    }
    if message:
        cond.update(message=message, reason="REVISION_FAILED", severity="ERROR")
    return cond


def render_service(svc: dict) -> dict:
    reconciling = bool(svc["pending"])
    gen = svc["generation"]
    revs = f"{svc['name']}/revisions/"
    return {
        "name": svc["name"],
        "uid": svc["uid"],
        "generation": str(gen),
        "labels": svc.get("labels", {}),
        "createTime": det.rfc3339(svc["createTime"]),
        "updateTime": det.rfc3339(svc["updateTime"]),
        "creator": "deployer@example.com",
        "lastModifier": "deployer@example.com",
        "ingress": "INGRESS_TRAFFIC_ALL",
        "launchStage": "GA",
        "template": svc["template"],
        "traffic": [_target(t, svc, with_uri=False) for t in svc["traffic"]],
        "observedGeneration": str(gen - 1 if reconciling else gen),
        "terminalCondition": _condition(
            not svc["failure"], svc["failure"], svc["updateTime"], reconciling
        ),
        "latestReadyRevision": revs + svc["latestReady"] if svc["latestReady"] else "",
        "latestCreatedRevision": revs + svc["latestCreated"],
        "trafficStatuses": [_target(t, svc, with_uri=True) for t in svc["traffic"]],
        "uri": f"https://{svc['host']}",
        "reconciling": reconciling,
        "etag": model.service_etag(svc),
    }


def render_revision(rev: dict, svc: dict) -> dict:
    template = rev["template"]
    ready = rev["ready"]
    state = {True: "CONDITION_SUCCEEDED", False: "CONDITION_FAILED", None: "CONDITION_RECONCILING"}[
        ready
    ]
    out = {
        "name": rev["name"],
        "uid": rev["uid"],
        "generation": str(rev["generation"]),
        "labels": {"serving.knative.dev/service": svc["short"]},
        "createTime": det.rfc3339(rev["createTime"]),
        "updateTime": det.rfc3339(rev["createTime"]),
        "launchStage": "GA",
        "service": svc["name"],
        "scaling": template.get("scaling", {}),
        "containers": template.get("containers", []),
        "maxInstanceRequestConcurrency": template.get("maxInstanceRequestConcurrency", 80),
        "timeout": template.get("timeout", "300s"),
        "serviceAccount": template.get("serviceAccount", ""),
        "conditions": [
            {"type": "Ready", "state": state, "lastTransitionTime": det.rfc3339(rev["createTime"])}
        ],
        "observedGeneration": str(rev["generation"]),
        "reconciling": ready is None,
        "etag": det.digest("rev-etag", rev["name"])[:24],
    }
    if rev["message"]:
        out["conditions"][0].update(
            message=rev["message"], reason="CONTAINER_MISSING", severity="ERROR"
        )
    return out


def render_operation(state, op: dict) -> dict:
    svc = state.data["services"][op["service"]]
    service = render_service(svc)
    out = {"name": op["name"], "metadata": {"@type": SERVICE_TYPE, **service}, "done": op["done"]}
    if op["done"] and op["error"]:
        out["error"] = op["error"]
    elif op["done"]:
        out["response"] = {"@type": SERVICE_TYPE, **service}
    return out


def page(items: list, query: dict, default_size: int = 100) -> tuple[list, str]:
    """Slice by pageSize/pageToken (the token is the offset as a string)."""
    try:
        size = int(query.get("pageSize") or default_size)
        start = int(query.get("pageToken") or 0)
    except ValueError as exc:
        raise ApiError(400, "Invalid pageSize or pageToken.") from exc
    size = size if size > 0 else default_size
    chunk = items[start : start + size]
    token = str(start + size) if start + size < len(items) else ""
    return chunk, token


def list_services(state, req, m):
    parent = m["parent"]
    if parent.endswith("/locations/-"):
        prefix = parent[: -len("locations/-")]
    else:
        prefix = parent + "/services/"
    names = sorted(n for n in state.data["services"] if n.startswith(prefix))
    chunk, token = page(names, req.query)
    services = [render_service(state.data["services"][n]) for n in chunk]
    return 200, {"services": services, "nextPageToken": token} if token else {"services": services}


def get_service(state, req, m):
    return 200, render_service(model.get_service(state, f"{m['parent']}/services/{m['service']}"))


def update_service(state, req, m):
    svc = model.get_service(state, f"{m['parent']}/services/{m['service']}")
    body = req.body or {}
    mask = [f.split(".")[0] for f in req.query.get("updateMask", "").split(",") if f]
    mask = [_camel(f) for f in mask]
    if req.query.get("validateOnly") in ("true", "True", "1"):
        model.validate_traffic(
            state,
            svc,
            model.normalise_traffic(body.get("traffic"))
            or [{"type": model.LATEST, "revision": "", "percent": 100, "tag": ""}],
        )
        return 200, {
            "name": f"{m['parent']}/operations/validate-only",
            "done": True,
            "response": {"@type": SERVICE_TYPE, **render_service(svc)},
        }
    op = model.update_service(state, svc, body, mask, req.now)
    model.settle(state, req.now)  # an operation due now (--ready-delay 0) answers done
    state.save()
    return 200, render_operation(state, op)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def list_revisions(state, req, m):
    svc = model.get_service(state, f"{m['parent']}/services/{m['service']}")
    revs = model.revisions_of(state, svc)
    chunk, token = page(revs, req.query)
    out = {"revisions": [render_revision(r, svc) for r in chunk]}
    if token:
        out["nextPageToken"] = token
    return 200, out


def get_revision(state, req, m):
    svc = model.get_service(state, f"{m['parent']}/services/{m['service']}")
    rev = model.find_revision(state, svc, m["revision"])
    if rev is None:
        raise not_found(f"Resource '{m['revision']}' of kind 'REVISION'")
    return 200, render_revision(rev, svc)


def get_operation(state, req, m):
    op = state.data["run_ops"].get(f"{m['parent']}/operations/{m['op']}")
    if op is None:
        raise not_found(f"Operation '{m['op']}'")
    return 200, render_operation(state, op)


ROUTES = [
    ("GET", PARENT + r"/services", list_services),
    ("GET", SERVICE, get_service),
    ("PATCH", SERVICE, update_service),
    ("GET", SERVICE + r"/revisions", list_revisions),
    ("GET", SERVICE + r"/revisions/(?P<revision>[^/]+)", get_revision),
    ("GET", PARENT + r"/operations/(?P<op>[^/:]+)", get_operation),
]
