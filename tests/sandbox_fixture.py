"""pytest plugin: a sandbox GCP server for the whole test session.

Register with `pytest_plugins = ["tests.sandbox_fixture"]`. The `sandbox_server` fixture
starts `python -m sandbox` once per session; the `sandbox` fixture resets it before
each test so tests never see each other's revisions, faults or traffic history.
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

# Without credentials google-auth probes the GCE metadata server for seconds; never do that.
os.environ["NO_GCE_CHECK"] = "true"

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 20.0


def platform_file() -> Path:
    """tests/platform.test.toml, else the repo's example, else the sandbox's own."""
    for candidate in (REPO / "tests" / "platform.test.toml", REPO / "platform.example.toml"):
        if candidate.exists():
            return candidate
    return REPO / "tests" / "sandbox" / "platform.sandbox-test.toml"


class Sandbox:
    """A handle on a running sandbox: its addresses and its control API."""

    def __init__(self, http_url: str, grpc_target: str, process: subprocess.Popen):
        self.http_url = http_url
        self.grpc_target = grpc_target
        self.process = process

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.http_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def reset(self) -> None:
        self._call("POST", "/sandbox/v1/reset", {})

    def fault(self, **kw) -> dict:
        """Cloud Run: project, service, image, error_rate, p95_ms, ready.
        VM: project, instance, version, healthy. Static site: site (its bucket), stale,
        invalidation_delay."""
        return self._call("POST", "/sandbox/v1/faults", kw)

    def api_fault(self, **kw) -> dict:
        """method, path_regex, status, times: the next matching calls fail."""
        return self._call("POST", "/sandbox/v1/api-faults", kw)

    def state(self) -> dict:
        return self._call("GET", "/sandbox/v1/state")

    def requests(self, since: int = 0) -> list[dict]:
        return self._call("GET", f"/sandbox/v1/requests?since={since}")["requests"]


def start_sandbox(platform: Path, *extra: str, ready_delay: float = 0.3) -> Sandbox:
    """Start `python -m sandbox` on free ports and wait for its ready line."""
    cmd = [
        sys.executable,
        "-m",
        "sandbox",
        "--http",
        "127.0.0.1:0",
        "--grpc",
        "127.0.0.1:0",
        "--platform",
        str(platform),
        "--ready-delay",
        str(ready_delay),
        *extra,
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(READY_TIMEOUT_S)
    if not line or not line[0].startswith("sandbox ready"):
        stop_sandbox(proc)
        raise RuntimeError(f"sandbox did not start within {READY_TIMEOUT_S}s: {line!r}")
    fields = dict(part.split("=", 1) for part in line[0].split()[2:])
    return Sandbox(fields["http"], fields["grpc"], proc)


def stop_sandbox(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextlib.contextmanager
def running_sandbox(platform: Path, *extra: str):
    """A sandbox for the length of the block; suites override `sandbox_server` with it."""
    server = start_sandbox(platform, *extra)
    try:
        yield server
    finally:
        stop_sandbox(server.process)


@pytest.fixture(scope="session")
def sandbox_server():
    with running_sandbox(platform_file()) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server):
    sandbox_server.reset()
    return sandbox_server
