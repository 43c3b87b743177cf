"""The processes a rollout benchmark needs, all on 127.0.0.1: the sandbox (a local Google),
RQ workers and the web app, pointed at the throwaway database. `Stack.stop()` ends them all.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOG_DIR = REPO / "var"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """DATABASE_URL naming the database Django is connected to now (the throwaway one)."""
    user = urllib.parse.quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{urllib.parse.quote(password)}" if password else user
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{settings_dict['NAME']}"


def _stat(pid: int) -> tuple[int, str, float] | None:
    """(parent pid, command name, CPU seconds used) of a live process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime, every thread included
    return int(fields[1]), name, ticks / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, float]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            out[int(entry.name)] = stat
    return out


class Stack:
    """Started subprocesses, each in its own process group (an RQ worker forks a work
    horse per job and a scheduler), stopped in reverse order: SIGTERM, then SIGKILL."""

    def __init__(self):
        self.processes: list[subprocess.Popen] = []
        self.roles: dict[int, str] = {os.getpid(): "bench client"}
        self.logs = []
        self.adopted: set[int] = set()
        LOG_DIR.mkdir(exist_ok=True)

    def spawn(self, name: str, cmd: list[str], env: dict) -> subprocess.Popen:
        log = open(LOG_DIR / f"bench-{name}.log", "w")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(proc)
        self.roles[proc.pid] = name.split("-")[0]
        return proc

    def adopt(self, proc: subprocess.Popen, name: str) -> None:
        """A process started elsewhere (the sandbox); signalled alone, not as a group."""
        self.processes.append(proc)
        self.adopted.add(proc.pid)
        self.roles[proc.pid] = name

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far per role (worker, web, sandbox, this benchmark's own
        client; a process's children count for it) and by PostgreSQL and Redis, which serve
        them all."""
        procs = _processes()
        out = dict.fromkeys([*self.roles.values(), "postgres", "redis"], 0.0)
        for pid, (_, name, seconds) in procs.items():
            role, parent = None, pid
            while parent in procs and role is None:
                role = self.roles.get(parent)
                parent = procs[parent][0]
            if role is None and name in ("postgres", "redis-server"):
                role = name.split("-")[0]
            if role is not None:
                out[role] += seconds
        return out

    def stop(self) -> None:
        for proc in reversed(self.processes):
            self._signal(proc, signal.SIGTERM)
        # A second SIGTERM is an RQ worker's cold shutdown: it kills its work horse, which
        # runs in a session of its own (out of reach of the group signal) and may be
        # waiting on a Google call.
        time.sleep(0.5)
        for proc in reversed(self.processes):
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            # Whatever the group still holds (a work horse mid-job) goes now.
            self._signal(proc, signal.SIGKILL)
            proc.wait(timeout=5)
        for log in self.logs:
            log.close()

    def _signal(self, proc: subprocess.Popen, sig: int) -> None:
        """Signal `proc`, or the process group it leads (ours: start_new_session)."""
        with contextlib.suppress(ProcessLookupError):
            if proc.pid not in self.adopted:
                os.killpg(proc.pid, sig)
            elif proc.poll() is None:
                proc.send_signal(sig)


def start_workers(stack: Stack, env: dict, count: int) -> None:
    cmd = [sys.executable, "manage.py", "rqworker", "deploys", "default", "--with-scheduler"]
    for i in range(count):
        stack.spawn(f"worker-{i}", cmd, env)


def start_web(stack: Stack, env: dict, timeout: float = 30.0) -> str:
    """gunicorn as in the Dockerfile (2 workers × 4 threads); returns its base URL."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "platform_admin.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "4",
        "--timeout",
        "60",
    ]
    proc = stack.spawn("web", cmd, env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the web server exited ({proc.returncode}); see var/bench-web.log")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return base
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the web server did not answer /healthz within {timeout}s")


def process_env(db_url: str, sandbox) -> dict:
    """The environment of every app process: the throwaway database and the sandbox."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "platform_admin.settings",
        "DATABASE_URL": db_url,
        "GCP_API_ENDPOINT": sandbox.http_url,
        "GCP_GRPC_ENDPOINT": sandbox.grpc_target,
        "NO_GCE_CHECK": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "HTTPS": "off",
    }
