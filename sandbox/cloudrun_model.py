"""Cloud Run services and revisions: seeding, updates, operations and traffic history.

All functions expect the caller to hold `state.lock`.
"""

import uuid

from . import det, faults
from .errors import ApiError, not_found

LATEST, REVISION = "LATEST", "REVISION"
TYPE_IN = {
    1: LATEST,
    2: REVISION,
    "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST": LATEST,
    "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION": REVISION,
    "LATEST": LATEST,
    "REVISION": REVISION,
}
NOT_READY = (
    "Revision '{}' is not ready and cannot serve traffic. The user-provided container "
    "failed to start and listen on the port defined provided by the PORT=8080 "
    "environment variable within the allocated timeout."
)


def seed(state, env, now: float) -> None:
    for spec in env.of_kind("cloud_run"):
        name = f"projects/{env.project}/locations/{env.region}/services/{spec.name}"
        digest = det.digest("image", env.project, spec.name, "seed")
        repo = f"us-docker.pkg.dev/{env.project}/app/{spec.name}"
        image = spec.get("image") or f"{repo}@sha256:{digest}"
        svc = {
            "name": name,
            "project": env.project,
            "location": env.region,
            "short": spec.name,
            "uid": str(uuid.UUID(det.digest("svc", name)[:32])),
            "generation": 1,
            "createTime": now,
            "updateTime": now,
            "traffic": [],
            "counter": 0,
            "latestReady": "",
            "latestCreated": "",
            "pending": [],
            "failure": "",
            "host": f"{spec.name}-{det.numeric_id('host', name, digits=10)}.us-central1.run.app",
            "template": _seed_template(env.project, spec, image),
        }
        state.data["services"][name] = svc
        rev = _new_revision(state, svc, "", svc["template"], now)
        rev["ready"] = True
        svc["latestReady"] = rev["short"]
        svc["traffic"] = [{"type": LATEST, "revision": "", "percent": 100, "tag": ""}]
        record_split(state, svc, now)


def _seed_template(project: str, spec, image: str) -> dict:
    return {
        "scaling": {
            "minInstanceCount": int(spec.get("min_instances", 0)),
            "maxInstanceCount": int(spec.get("max_instances", 10)),
        },
        "containers": [
            {
                "name": spec.name,
                "image": image,
                "ports": [{"name": "http1", "containerPort": 8080}],
                "resources": {
                    "limits": {
                        "cpu": str(spec.get("cpu", 1)),
                        "memory": f"{spec.get('memory_gib', 1)}Gi",
                    },
                    "cpuIdle": True,
                },
            }
        ],
        "maxInstanceRequestConcurrency": int(spec.get("concurrency", 80)),
        "timeout": "300s",
        "serviceAccount": f"{spec.name}@{project}.iam.gserviceaccount.com",
    }


def get_service(state, name: str) -> dict:
    svc = state.data["services"].get(name)
    if svc is None:
        raise not_found(f"Resource '{name.rsplit('/', 1)[-1]}' of kind 'SERVICE'")
    return svc


def revisions_of(state, svc: dict) -> list[dict]:
    revs = [r for r in state.data["revisions"].values() if r["service"] == svc["name"]]
    return sorted(revs, key=lambda r: r["createTime"], reverse=True)


def find_revision(state, svc: dict, short: str) -> dict | None:
    return state.data["revisions"].get(f"{svc['name']}/revisions/{short}")


def canonical(template: dict | None) -> object:
    """The template without its revision name and empty values, for 'did it change?'."""

    def strip(value):
        if isinstance(value, dict):
            out = {k: strip(v) for k, v in value.items() if k != "revision"}
            return {k: v for k, v in out.items() if v not in (None, "", 0, False, [], {})}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(template or {})


def _new_revision(state, svc: dict, wanted: str, template: dict, now: float) -> dict:
    svc["counter"] += 1
    short = wanted or f"{svc['short']}-{svc['counter']:05d}-" + det.letters(
        3, svc["name"], svc["counter"], now
    )
    containers = template.get("containers") or [{}]
    rev = {
        "name": f"{svc['name']}/revisions/{short}",
        "short": short,
        "service": svc["name"],
        "uid": str(uuid.uuid4()),
        "createTime": now,
        "generation": 1,
        "template": dict(template, revision=short),
        "image": containers[0].get("image", ""),
        "ready": None,
        "message": "",
    }
    svc["template"] = dict(template, revision=short)
    svc["latestCreated"] = short
    state.data["revisions"][rev["name"]] = rev
    return rev


def normalise_traffic(raw: list | None) -> list[dict]:
    out = []
    for entry in raw or []:
        kind = TYPE_IN.get(entry.get("type", 0))
        if kind is None:
            raise ApiError(400, f"Invalid traffic target type: {entry.get('type')!r}.")
        out.append(
            {
                "type": kind,
                "revision": entry.get("revision", ""),
                "percent": int(entry.get("percent", 0)),
                "tag": entry.get("tag", ""),
            }
        )
    return out


def validate_traffic(state, svc: dict, traffic: list[dict], pending: str = "") -> None:
    """Reject splits the real API rejects, with messages in its spirit."""
    tags = set()
    for t in traffic:
        if not 0 <= t["percent"] <= 100:
            raise ApiError(400, f"Traffic percent {t['percent']} must be between 0 and 100.")
        if t["type"] == REVISION and not t["revision"]:
            raise ApiError(400, "Traffic target of type REVISION must name a revision.")
        if t["type"] == LATEST and t["revision"]:
            raise ApiError(400, "Traffic target of type LATEST must not name a revision.")
        if t["tag"]:
            if t["tag"] in tags:
                raise ApiError(400, f"Traffic tag '{t['tag']}' is used more than once.")
            tags.add(t["tag"])
        if t["type"] == REVISION and t["revision"] != pending:
            rev = find_revision(state, svc, t["revision"])
            if rev is None:
                raise ApiError(400, f"Revision '{t['revision']}' referenced in traffic not found.")
            if rev["ready"] is False and t["percent"] > 0:
                raise ApiError(400, NOT_READY.format(t["revision"]))
    total = sum(t["percent"] for t in traffic)
    if total != 100:
        raise ApiError(400, f"Traffic targets sum to {total}, want 100.")


def _decide_revision(state, svc: dict, template: dict | None) -> tuple[str, bool]:
    """(revision name, create it?) for a PATCH carrying `template`."""
    if template is None:
        return "", False
    wanted = template.get("revision", "")
    if wanted:
        existing = find_revision(state, svc, wanted)
        if existing is None:
            return wanted, True
        if canonical(existing["template"]) == canonical(template):
            return "", False  # re-sending the same PATCH is harmless
        raise ApiError(
            409,
            f"Revision named '{wanted}' with different configuration already exists.",
            status="ALREADY_EXISTS",
        )
    if canonical(template) == canonical(svc["template"]):
        return "", False
    return "", True


def update_service(state, svc: dict, body: dict, mask: list[str], now: float) -> dict:
    """Apply a PATCH; returns the long-running operation record."""
    fields = set(mask) if mask else {"template", "traffic", "labels"}
    etag = body.get("etag", "")
    if etag and etag != service_etag(svc):
        raise ApiError(
            409, "The etag does not match: the service was modified concurrently.", status="ABORTED"
        )
    template = body.get("template") if "template" in fields else None
    wanted, create = _decide_revision(state, svc, template)
    traffic = None
    if "traffic" in fields:
        traffic = normalise_traffic(body.get("traffic")) or [
            {"type": LATEST, "revision": "", "percent": 100, "tag": ""}
        ]
        validate_traffic(state, svc, traffic, pending=wanted if create else "")
    if "labels" in fields and "labels" in body:
        svc["labels"] = body["labels"]
    svc["generation"] += 1
    svc["updateTime"] = now
    revision = _new_revision(state, svc, wanted, template, now)["short"] if create else ""
    if not create and template is not None:
        kept = template.get("revision") or svc["template"].get("revision", "")
        svc["template"] = dict(template, revision=kept)
    op = {
        "name": f"projects/{svc['project']}/locations/{svc['location']}/operations/{uuid.uuid4()}",
        "service": svc["name"],
        "revision": revision,
        "traffic": None,
        "done": False,
        "error": None,
        "done_at": now + _ready_delay(state, svc, template if create else None),
    }
    if revision:
        op["traffic"] = traffic  # a new revision takes traffic only once it is ready
    elif traffic is not None:
        svc["traffic"] = traffic
        record_split(state, svc, now)
    svc["pending"].append(op["name"])
    state.data["run_ops"][op["name"]] = op
    return op


def _ready_delay(state, svc, template) -> float:
    """How long the operation takes: a fault may make one image's revisions slow."""
    if template is None:
        return state.options.ready_delay
    image = ((template.get("containers") or [{}])[0]).get("image", "")
    profile = faults.revision_profile(state, svc["project"], svc["name"], image, "")
    return float(profile.get("ready_delay", state.options.ready_delay))


def settle(state, now: float) -> None:
    # Only the services' pending operations: every finished one stays in run_ops.
    ops = state.data["run_ops"]
    due = [
        ops[name]
        for svc in state.data["services"].values()
        for name in svc["pending"]
        if ops[name]["done_at"] <= now
    ]
    for op in sorted(due, key=lambda o: o["done_at"]):
        _complete(state, op)


def _complete(state, op: dict) -> None:
    svc = state.data["services"][op["service"]]
    when = op["done_at"]
    if op["revision"]:
        rev = find_revision(state, svc, op["revision"])
        profile = faults.revision_profile(
            state, svc["project"], svc["short"], rev["image"], rev["short"]
        )
        rev["ready"] = bool(profile["ready"])
        if rev["ready"]:
            svc["latestReady"] = rev["short"]
            svc["failure"] = ""
            if op["traffic"] is not None:
                svc["traffic"] = op["traffic"]
        else:
            rev["message"] = NOT_READY.format(rev["short"])
            svc["failure"] = rev["message"]
            op["error"] = {"code": 9, "message": rev["message"]}
    op["done"] = True
    if op["name"] in svc["pending"]:
        svc["pending"].remove(op["name"])
    record_split(state, svc, when)


def effective_split(svc: dict) -> dict[str, int]:
    """Percent of requests per revision short name, LATEST resolved."""
    split: dict[str, int] = {}
    for t in svc["traffic"]:
        rev = svc["latestReady"] if t["type"] == LATEST else t["revision"]
        if rev and t["percent"]:
            split[rev] = split.get(rev, 0) + t["percent"]
    return split


def record_split(state, svc: dict, when: float) -> None:
    """Append to the service's traffic history when the effective split changed."""
    history = state.data["history"].setdefault(svc["name"], [])
    split = effective_split(svc)
    if history and history[-1][1] == split:
        return
    history.append([when, split])


def service_etag(svc: dict) -> str:
    return det.digest("etag", svc["name"], svc["generation"])[:24]
