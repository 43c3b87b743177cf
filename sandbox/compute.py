"""Compute Engine v1 over REST: instances, metadata, reset, zone operations, health probe.

All functions except the blocking `wait_operation` expect the caller to hold `state.lock`.
"""

import base64
import json
import time

from . import det, faults
from .errors import ApiError, not_found

API = "https://www.googleapis.com/compute/v1"
ZONE = r"/compute/v1/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)"
INSTANCE = ZONE + r"/instances/(?P<instance>[^/]+)"
WAIT_LIMIT_S = 10.0  # the real wait returns after ~2 min at most; tests want less
VERSION_KEY = "livekit-version"


def seed(state, env, now: float) -> None:
    for spec in env.of_kind("gce_vm"):
        zone = spec.get("zone", f"{env.region}-a")
        key = f"{env.project}/{zone}/{spec.name}"
        items = [
            {"key": VERSION_KEY, "value": str(spec.get("version", "1.7.2"))},
            {"key": "startup-script", "value": "#! /bin/bash\ndocker compose up -d\n"},
        ]
        state.data["instances"][key] = {
            "project": env.project,
            "zone": zone,
            "name": spec.name,
            "id": det.numeric_id("instance", key),
            "createTime": now,
            "machineType": spec.get("machine_type", "n2-standard-4"),
            "labels": {"app": spec.name, **env.cost_labels},
            "items": items,
            "fingerprint": _fingerprint(key, items, 0),
            "changes": 0,
            "reset_until": 0.0,
            "natIP": _ip(key, "nat"),
            "networkIP": _ip(key, "internal"),
        }


def _fingerprint(key: str, items: list, changes: int) -> str:
    raw = bytes.fromhex(det.digest("fp", key, json.dumps(items, sort_keys=True), changes)[:16])
    return base64.b64encode(raw).decode()


def _ip(key: str, kind: str) -> str:
    n = int(det.digest("ip", key, kind)[:6], 16)
    prefix = "34.118" if kind == "nat" else "10.128"
    return f"{prefix}.{(n >> 8) % 250 + 1}.{n % 250 + 2}"


def settle(state, now: float) -> None:
    for op in state.data["zone_ops"].values():
        if op["status"] != "DONE" and op["done_at"] <= now:
            op["status"] = "DONE"
            op["progress"] = 100


def get_instance_record(state, project: str, zone: str, name: str) -> dict:
    inst = state.data["instances"].get(f"{project}/{zone}/{name}")
    if inst is None:
        raise not_found(f"The resource 'projects/{project}/zones/{zone}/instances/{name}'")
    return inst


def instance_status(inst: dict, now: float) -> str:
    # A reset takes the VM through STOPPING and STAGING before it runs again.
    if now < inst["reset_until"]:
        return (
            "STOPPING" if now < inst["reset_until"] - 0.5 * inst.get("reset_for", 0) else "STAGING"
        )
    return "RUNNING"


def render_instance(inst: dict, now: float) -> dict:
    p, z, n = inst["project"], inst["zone"], inst["name"]
    return {
        "kind": "compute#instance",
        "id": inst["id"],
        "name": n,
        "creationTimestamp": det.rfc3339(inst["createTime"]),
        "zone": f"{API}/projects/{p}/zones/{z}",
        "machineType": f"{API}/projects/{p}/zones/{z}/machineTypes/{inst['machineType']}",
        "status": instance_status(inst, now),
        "cpuPlatform": "Intel Cascade Lake",
        "labels": inst["labels"],
        "metadata": {
            "kind": "compute#metadata",
            "fingerprint": inst["fingerprint"],
            "items": inst["items"],
        },
        "networkInterfaces": [
            {
                "kind": "compute#networkInterface",
                "name": "nic0",
                "network": f"{API}/projects/{p}/global/networks/default",
                "subnetwork": f"{API}/projects/{p}/regions/{z[:-2]}/subnetworks/default",
                "networkIP": inst["networkIP"],
                "accessConfigs": [
                    {
                        "kind": "compute#accessConfig",
                        "name": "External NAT",
                        "type": "ONE_TO_ONE_NAT",
                        "natIP": inst["natIP"],
                        "networkTier": "PREMIUM",
                    }
                ],
            }
        ],
        "disks": [
            {
                "kind": "compute#attachedDisk",
                "boot": True,
                "autoDelete": True,
                "deviceName": "persistent-disk-0",
                "diskSizeGb": "50",
                "type": "PERSISTENT",
                "source": f"{API}/projects/{p}/zones/{z}/disks/{n}",
            }
        ],
        "selfLink": f"{API}/projects/{p}/zones/{z}/instances/{n}",
    }


def render_operation(op: dict) -> dict:
    p, z = op["project"], op["zone"]
    out = {
        k: op[k]
        for k in (
            "id",
            "name",
            "operationType",
            "targetLink",
            "targetId",
            "status",
            "progress",
            "insertTime",
            "startTime",
            "user",
        )
    }
    out.update(
        kind="compute#operation",
        zone=f"{API}/projects/{p}/zones/{z}",
        selfLink=f"{API}/projects/{p}/zones/{z}/operations/{op['name']}",
    )
    if op["status"] == "DONE":
        out["endTime"] = det.rfc3339(op["done_at"])
    return out


def _new_operation(state, inst: dict, kind: str, request_id: str, now: float) -> dict:
    name = f"operation-{int(now * 1000)}-{det.digest('op', inst['id'], now, kind)[:12]}"
    op = {
        "id": det.numeric_id("opid", name),
        "name": name,
        "operationType": kind,
        "project": inst["project"],
        "zone": inst["zone"],
        "targetLink": f"{API}/projects/{inst['project']}/zones/{inst['zone']}/instances/"
        f"{inst['name']}",
        "targetId": inst["id"],
        "status": "RUNNING",
        "progress": 0,
        "insertTime": det.rfc3339(now),
        "startTime": det.rfc3339(now),
        "user": "deployer@example.com",
        "done_at": now + state.options.ready_delay,
    }
    state.data["zone_ops"][f"{inst['project']}/{inst['zone']}/{name}"] = op
    if request_id:
        state.data["request_ids"][request_id] = f"{inst['project']}/{inst['zone']}/{name}"
    return op


def _replayed(state, request_id: str) -> dict | None:
    """The operation an earlier call with this requestId started (idempotent retries)."""
    key = state.data["request_ids"].get(request_id) if request_id else None
    return state.data["zone_ops"].get(key) if key else None


def get_instance(state, req, m):
    inst = get_instance_record(state, m["project"], m["zone"], m["instance"])
    return 200, render_instance(inst, req.now)


def list_instances(state, req, m):
    prefix = f"{m['project']}/{m['zone']}/"
    items = [
        render_instance(i, req.now)
        for k, i in sorted(state.data["instances"].items())
        if k.startswith(prefix)
    ]
    return 200, {"kind": "compute#instanceList", "items": items}


def set_metadata(state, req, m):
    inst = get_instance_record(state, m["project"], m["zone"], m["instance"])
    request_id = req.query.get("requestId", "")
    if (op := _replayed(state, request_id)) is not None:
        return 200, render_operation(op)
    body = req.body or {}
    if body.get("fingerprint") != inst["fingerprint"]:
        raise ApiError(
            412,
            "Supplied fingerprint does not match current metadata fingerprint.",
            reason="conditionNotMet",
        )
    inst["items"] = [{"key": i["key"], "value": i.get("value", "")} for i in body.get("items", [])]
    inst["changes"] += 1
    inst["fingerprint"] = _fingerprint(
        f"{inst['project']}/{inst['zone']}/{inst['name']}", inst["items"], inst["changes"]
    )
    op = _new_operation(state, inst, "setMetadata", request_id, req.now)
    state.save()
    return 200, render_operation(op)


def reset(state, req, m):
    inst = get_instance_record(state, m["project"], m["zone"], m["instance"])
    request_id = req.query.get("requestId", "")
    if (op := _replayed(state, request_id)) is not None:
        return 200, render_operation(op)
    inst["reset_for"] = state.options.ready_delay
    inst["reset_until"] = req.now + state.options.ready_delay
    op = _new_operation(state, inst, "reset", request_id, req.now)
    state.save()
    return 200, render_operation(op)


def _find_op(state, m) -> dict:
    op = state.data["zone_ops"].get(f"{m['project']}/{m['zone']}/{m['op']}")
    if op is None:
        raise not_found(
            f"The resource 'projects/{m['project']}/zones/{m['zone']}/operations/{m['op']}'"
        )
    return op


def get_operation(state, req, m):
    return 200, render_operation(_find_op(state, m))


def wait_operation(state, req, m):
    return wait_until_done(state, lambda: _find_op(state, m), render_operation)


def wait_until_done(state, find, render):
    """Blocks (without the lock) until the operation `find` returns is DONE or
    WAIT_LIMIT_S passed, as the real `wait` does (after ~2 minutes at most)."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while True:
        with state.lock:
            state.settle()
            op = find()
            if op["status"] == "DONE" or time.monotonic() >= deadline:
                return 200, render(op)
        time.sleep(0.05)


def health(state, req, m):
    inst = get_instance_record(state, m["project"], m["zone"], m["instance"])
    version = next((i["value"] for i in inst["items"] if i["key"] == VERSION_KEY), "")
    if instance_status(inst, req.now) != "RUNNING":
        return 503, {"status": "unavailable", "reason": "instance is resetting"}
    if not faults.vm_healthy(state, inst["project"], inst["name"], version):
        return 503, {"status": "unhealthy", "version": version}
    return 200, {"status": "ok", "version": version}


ROUTES = [
    ("GET", ZONE + r"/instances", list_instances),
    ("GET", INSTANCE, get_instance),
    ("POST", INSTANCE + r"/setMetadata", set_metadata),
    ("POST", INSTANCE + r"/reset", reset),
    ("GET", ZONE + r"/operations/(?P<op>[^/]+)", get_operation),
    ("POST", ZONE + r"/operations/(?P<op>[^/]+)/wait", wait_operation, "unlocked"),
    ("GET", r"/sandbox/v1/health/(?P<project>[^/]+)/(?P<zone>[^/]+)/(?P<instance>[^/]+)", health),
]
