"""Fixtures for deployments tests: releases, a fast canary plan, the sandbox wired into
the app, a real RQ worker subprocess and a local Slack webhook receiver."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.sandbox_fixture import platform_file, running_sandbox

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "a" * 64
SANDBOX_RPS = "400"
CURRENT_SANDBOX = None  # enough requests at 5% in a 1 s bake for min_requests=10


def image(service: str, tag: str = "", digest_char: str = "a") -> str:
    tag_part = f":{tag}" if tag else ""
    return f"us-docker.pkg.dev/acme/app/{service}{tag_part}@sha256:{digest_char * 64}"


@pytest.fixture(scope="session")
def sandbox_server():
    """The session sandbox, with more traffic per service than the default."""
    with running_sandbox(platform_file(), "--rps", SANDBOX_RPS) as server:
        yield server


def api_caller(client, token: str):
    """call(method, path, body=None): the CI API at /api/v1 with `token` as bearer."""

    def call(method, path, body=None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"/api/v1{path}", **kwargs)

    return call


@pytest.fixture
def waiting_in_production(alice, production, make_release):
    """A production rollout of 1.4.0 waiting for approval."""
    from deployments.models import Rollout, RolloutState

    return Rollout.objects.create(
        release=make_release("1.4.0"),
        environment=production,
        started_by=alice,
        state=RolloutState.PENDING_APPROVAL,
    )


@pytest.fixture
def make_release(db):
    from django.contrib.auth import get_user_model

    from deployments.models import Release, ReleaseArtifact

    def _make(version, services=("api-server", "realtime", "agent"), tag="", digest_char="b"):
        creator = get_user_model().objects.filter(is_superuser=True).first()
        release = Release.objects.create(version=version, created_by=creator)
        for name in services:
            ReleaseArtifact.objects.create(
                release=release, service_name=name, image=image(name, tag, digest_char)
            )
        return release

    return _make


@pytest.fixture
def fast_plan(platform):
    """Bake 1 s (the verification too) and 10 requests minimum in every environment."""
    for env in platform.values():
        env.bake_seconds = 1
        env.verify_seconds = None
        env.min_requests = 10
        env.save()
    return platform


@pytest.fixture
def gcp(settings, sandbox):
    """Point the app's Google clients at the (freshly reset) sandbox."""
    from platform_admin.gcp import reset_clients

    global CURRENT_SANDBOX
    CURRENT_SANDBOX = sandbox
    settings.GCP_API_ENDPOINT = sandbox.http_url
    settings.GCP_GRPC_ENDPOINT = sandbox.grpc_target
    reset_clients()
    yield sandbox
    reset_clients()


@pytest.fixture
def slack(monkeypatch):
    """A Slack webhook stand-in on 127.0.0.1 collecting the posted texts."""
    received: list[str] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(json.loads(body)["text"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    monkeypatch.setenv("SLACK_WEBHOOK_STAGING", url)
    monkeypatch.setenv("SLACK_WEBHOOK_PRODUCTION", url)
    yield received
    server.shutdown()


WORKER = ("rqworker", "deploys", "default")  # the Procfile's deploys (+ notifications)
CRON = ("rqcron", "platform_admin.cron")  # the Procfile's cron: the rollout tick


class Worker:
    """One process of the Procfile (default: the deploy worker) against the test database."""

    def __init__(self, env: dict, command: tuple[str, ...] = WORKER):
        self.env = env
        self.command = command
        self.process: subprocess.Popen | None = None
        self.log = open(REPO / "var" / f"test-worker-{os.getpid()}.log", "a")  # noqa: SIM115

    def start(self) -> "Worker":
        cmd = [sys.executable, "manage.py", *self.command]
        # Its own process group: a kill must take its children too, or they live on
        # against the test database.
        self.process = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def _signal_group(self, sig) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no cleanup, jobs in flight are lost, leases lapse on their own."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=5)
        self._signal_group(signal.SIGKILL)  # children that outlived their parent


@pytest.fixture
def redis_conn():
    import django_rq

    conn = django_rq.get_connection("deploys")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def worker(transactional_db, gcp, redis_conn, slack):
    """A real RQ deploy worker process and RQ's cron scheduler running the tick; the
    cron process is `worker.cron`."""
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "GCP_API_ENDPOINT": gcp.http_url,
        "GCP_GRPC_ENDPOINT": gcp.grpc_target,
        "DJANGO_SETTINGS_MODULE": "tests.deployments.worker_settings",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    (REPO / "var").mkdir(exist_ok=True)
    handle = Worker(env).start()
    handle.cron = Worker(env, CRON).start()
    yield handle
    for process in (handle, handle.cron):
        process.stop()
        process.log.close()


def wait_for(predicate, timeout=30.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def sandbox_service(sandbox, env, service) -> dict:
    """A Cloud Run service as the sandbox holds it (its `split`, its `traffic` with tags)."""
    key = f"projects/{env.gcp_project}/locations/{env.region}/services/{service}"
    return sandbox.state()["services"][key]


def live_split(sandbox, env, service) -> dict[str, int]:
    """The revisions of `service` that serve traffic, with their percent."""
    return {k: v for k, v in sandbox_service(sandbox, env, service)["split"].items() if v}


def live_tags(sandbox, env, service) -> set[str]:
    return {t["tag"] for t in sandbox_service(sandbox, env, service)["traffic"] if t.get("tag")}


def finishes_after_a_kill(worker, rollout, state, timeout=60.0):
    """SIGKILL `worker` and let a fresh one (nothing of the dead one's to clean up) take
    the rollout to `state`."""
    worker.kill()
    replacement = Worker(worker.env).start()
    try:
        wait_for_state(rollout, state, timeout=timeout)
    finally:
        replacement.stop()


def wait_for_state(rollout, states, timeout=40.0):
    states = {states} if isinstance(states, str) else set(states)

    def done():
        rollout.refresh_from_db()
        return rollout.state in states

    try:
        wait_for(done, timeout, what=f"rollout #{rollout.pk} to reach {states}")
    except AssertionError as exc:
        last = [f"{e.kind}: {e.message}" for e in rollout.events.order_by("-pk")[:5]][::-1]
        raise AssertionError(f"{exc}; it is {rollout.state}, last events: {last}") from None
    return rollout


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The named users are created per test; PBKDF2 would dominate the suite's runtime."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
