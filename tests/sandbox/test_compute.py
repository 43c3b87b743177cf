"""Compute Engine v1 contract (LiveKit VM) and the sandbox's VM health probe."""

import json
import urllib.error
import urllib.request

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from tests.sandbox.conftest import STAGING, ZONE

VM = {"project": STAGING, "zone": ZONE, "instance": "livekit"}


def probe(sandbox) -> tuple[int, dict]:
    url = f"{sandbox.http_url}/sandbox/v1/health/{STAGING}/{ZONE}/livekit"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def pin_version(instances_client, version: str, request_id: str = "") -> compute_v1.Operation:
    inst = instances_client.get(**VM)
    items = [i for i in inst.metadata.items if i.key != "livekit-version"]
    items.append(compute_v1.Items(key="livekit-version", value=version))
    metadata = compute_v1.Metadata(fingerprint=inst.metadata.fingerprint, items=items)
    request = compute_v1.SetMetadataInstanceRequest(metadata_resource=metadata, **VM)
    if request_id:
        request.request_id = request_id
    return instances_client.set_metadata_unary(request=request)


def test_instance_is_seeded_running_with_pinned_version(instances_client):
    inst = instances_client.get(**VM)
    assert inst.status == "RUNNING" and inst.name == "livekit"
    assert inst.machine_type.endswith(f"/zones/{ZONE}/machineTypes/n2-standard-4")
    assert inst.id > 0 and inst.metadata.fingerprint
    assert {i.key: i.value for i in inst.metadata.items}["livekit-version"] == "1.7.2"
    assert inst.network_interfaces[0].access_configs[0].nat_i_p


def test_set_metadata_then_wait_for_the_zone_operation(instances_client, zone_ops_client):
    before = instances_client.get(**VM).metadata.fingerprint
    op = pin_version(instances_client, "1.8.0")
    assert op.status in (compute_v1.Operation.Status.RUNNING, compute_v1.Operation.Status.PENDING)
    done = zone_ops_client.wait(project=STAGING, zone=ZONE, operation=op.name, timeout=15)
    assert done.status == compute_v1.Operation.Status.DONE
    assert done.operation_type == "setMetadata" and done.target_link.endswith("/livekit")
    inst = instances_client.get(**VM)
    assert {i.key: i.value for i in inst.metadata.items}["livekit-version"] == "1.8.0"
    assert inst.metadata.fingerprint != before


def test_stale_fingerprint_is_refused_with_412(instances_client):
    inst = instances_client.get(**VM)
    pin_version(instances_client, "1.8.0")
    stale = compute_v1.Metadata(fingerprint=inst.metadata.fingerprint, items=[])
    with pytest.raises(exceptions.PreconditionFailed, match="fingerprint"):
        instances_client.set_metadata_unary(metadata_resource=stale, **VM)


def test_same_request_id_returns_the_same_operation_once(instances_client):
    first = pin_version(instances_client, "1.8.0", request_id="6b1f1c6e-rollout-42")
    fingerprint = instances_client.get(**VM).metadata.fingerprint
    again = pin_version(instances_client, "1.9.9", request_id="6b1f1c6e-rollout-42")
    assert again.name == first.name
    inst = instances_client.get(**VM)
    assert inst.metadata.fingerprint == fingerprint
    assert {i.key: i.value for i in inst.metadata.items}["livekit-version"] == "1.8.0"


def test_reset_takes_the_vm_down_briefly(instances_client, zone_ops_client, sandbox):
    op = instances_client.reset_unary(**VM)
    assert instances_client.get(**VM).status != "RUNNING"
    assert probe(sandbox)[0] == 503
    zone_ops_client.wait(project=STAGING, zone=ZONE, operation=op.name, timeout=15)
    assert zone_ops_client.get(project=STAGING, zone=ZONE, operation=op.name).status == (
        compute_v1.Operation.Status.DONE
    )
    assert instances_client.get(**VM).status == "RUNNING"
    assert probe(sandbox) == (200, {"status": "ok", "version": "1.7.2"})


def test_health_probe_follows_the_vm_fault_profile(instances_client, zone_ops_client, sandbox):
    sandbox.fault(project=STAGING, instance="livekit", version="1.8.0", healthy=False)
    assert probe(sandbox)[0] == 200  # still on 1.7.2
    op = pin_version(instances_client, "1.8.0")
    zone_ops_client.wait(project=STAGING, zone=ZONE, operation=op.name, timeout=15)
    assert probe(sandbox) == (503, {"status": "unhealthy", "version": "1.8.0"})
