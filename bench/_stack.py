"""The processes a rollout benchmark needs, all on 127.0.0.1 and on ports of their own: a
private redis-server, the sandbox (a local Google), the deploy workers and the cron process
as the Procfile starts them, and the web app, pointed at the benchmark's own throwaway
database. `Stack.stop()` ends them all.

Other people run the test suites on this PostgreSQL server and Redis at the same time
(databases `platform_admin` and `platform_admin_h2`, Redis databases 14 and 13): the
benchmark never touches those. It keeps only the server and credentials of DATABASE_URL
and names its own database (`own_database_url`), and it starts a redis-server of its own
on a free port (`start_redis`) instead of using REDIS_URL.
"""

import contextlib
import os
import re
import shlex
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
# The databases the test suites use (their test databases are test_<name>, and
# test_<name>_gwN under xdist): a benchmark database must be none of these.
SHARED_DATABASES = ("platform_admin", "platform_admin_h2")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def own_database_url(url: str, name: str) -> str:
    """`url` (a PostgreSQL DATABASE_URL) with its database replaced by `name`: the server
    and credentials are kept, the database is the benchmark's. Refuses a name the test
    suites use, or whose throwaway copy (test_<name>) would be theirs."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"the rollout benchmark needs PostgreSQL; DATABASE_URL is {url!r}")
    for shared in SHARED_DATABASES:
        for taken in (shared, f"test_{shared}"):
            if name == taken or f"test_{name}" == taken or name.startswith(f"{taken}_gw"):
                raise SystemExit(f"database {name!r} is the test suites' ({shared}); pick another")
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


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


def machine_cpu_seconds() -> float:
    """CPU seconds every core of this machine has spent busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, float]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            out[int(entry.name)] = stat
    return out


class Stack:
    """Started subprocesses, each in its own process group (gunicorn forks its workers),
    stopped in reverse order: SIGTERM, then SIGKILL."""

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

    def cpu_snapshot(self) -> dict:
        """CPU seconds used so far per process (with its role: worker, cron, web, sandbox,
        redis, this benchmark's own client, a child counting for its parent's role; or
        postgres, whose server others use too), and by the whole machine. Subtract two
        with `cpu_used`."""
        procs = _processes()
        per_pid = {}
        for pid, (_, name, seconds) in procs.items():
            role, parent = None, pid
            while parent in procs and role is None:
                role = self.roles.get(parent)
                parent = procs[parent][0]
            if role is None and name == "postgres":
                role = "postgres"
            per_pid[pid] = (role or "other", seconds)
        return {"pids": per_pid, "machine": machine_cpu_seconds()}

    @staticmethod
    def cpu_used(before: dict, after: dict) -> dict[str, float]:
        """CPU seconds per role between two snapshots; "other" is the rest of the machine
        (anything else running here meanwhile, a process that exited in between)."""
        out: dict[str, float] = {}
        for pid, (role, seconds) in after["pids"].items():
            if role == "other":
                continue
            earlier = before["pids"].get(pid)
            used = seconds - (earlier[1] if earlier and earlier[0] == role else 0.0)
            out[role] = out.get(role, 0.0) + max(used, 0.0)
        out["other"] = max(after["machine"] - before["machine"] - sum(out.values()), 0.0)
        return out

    def stop(self) -> None:
        """Idempotent: a second call finds nothing left to stop."""
        for proc in reversed(self.processes):
            self._signal(proc, signal.SIGTERM)
        # A second SIGTERM is an RQ worker's cold shutdown: it stops without waiting for
        # the jobs its threads run (a warm one waits for them, and one may be waiting on a
        # Google call).
        time.sleep(0.5)
        for proc in reversed(self.processes):
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            # Whatever the group still holds goes now.
            self._signal(proc, signal.SIGKILL)
            proc.wait(timeout=5)
        for log in self.logs:
            log.close()
        self.processes, self.logs = [], []

    def _signal(self, proc: subprocess.Popen, sig: int) -> None:
        """Signal `proc`, or the process group it leads (ours: start_new_session)."""
        with contextlib.suppress(ProcessLookupError):
            if proc.pid not in self.adopted:
                os.killpg(proc.pid, sig)
            elif proc.poll() is None:
                proc.send_signal(sig)


def procfile_command(process: str) -> list[str]:
    """The Procfile's command for `process`, with `python` and `gunicorn` from this
    interpreter (the venv's, as scripts/run.sh puts .venv/bin first on PATH for honcho);
    ${NAME:-default} words are left for `_expand`."""
    for line in (REPO / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process:
            argv = []
            for arg in shlex.split(command):
                if arg == "python":
                    argv.append(sys.executable)
                elif arg == "gunicorn":
                    argv += [sys.executable, "-m", "gunicorn"]
                else:
                    argv.append(arg)
            return argv
    raise RuntimeError(f"the Procfile has no {process!r} line")


def _expand(arg: str, values: dict) -> str:
    """A Procfile word with its ${NAME:-default} parts filled in, as the shell would."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: values.get(m[1]) or m[2], arg)


def web_workers(env: dict | None = None) -> str:
    """The Procfile's web server as the benchmarks print it: "gunicorn sync x 5"."""
    argv = [_expand(arg, env or os.environ) for arg in procfile_command("web")]
    kind = argv[argv.index("--worker-class") + 1] if "--worker-class" in argv else "sync"
    count = argv[argv.index("--workers") + 1] if "--workers" in argv else "1"
    return f"gunicorn {kind} x {count}"


def start_redis(stack: Stack, directory: Path, timeout: float = 10.0) -> str:
    """A redis-server of the benchmark's own on a free loopback port, nothing saved to
    disk; returns its URL. (Never REDIS_URL: others' test runs use that server.)"""
    import redis

    port = free_port()
    cmd = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]
    proc = stack.spawn("redis", cmd, dict(os.environ))
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited ({proc.returncode}); see var/bench-redis.log")
        with contextlib.suppress(redis.ConnectionError):
            if client.ping():
                client.close()
                return url
        time.sleep(0.1)
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout}s")


def start_workers(stack: Stack, env: dict, count: int) -> None:
    """`count` deploy workers: the Procfile's `deploys` line (settings.RQ's threaded
    worker class; no --with-scheduler, the cron process schedules)."""
    cmd = procfile_command("deploys")
    for i in range(count):
        stack.spawn(f"worker-{i}", cmd, env)


def start_cron(stack: Stack, env: dict) -> None:
    """The one cron process: the Procfile's `cron` line (the tick every second)."""
    stack.spawn("cron", procfile_command("cron"), env)


def start_web(stack: Stack, env: dict, timeout: float = 30.0) -> str:
    """The Procfile's `web` line (gunicorn, its workers, an access log) on a free loopback
    port; returns its base URL."""
    port = free_port()
    values = {**env, "WEB_BIND": "127.0.0.1", "PORT": str(port)}
    cmd = [_expand(arg, values) for arg in procfile_command("web")]
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


def process_env(db_url: str, redis_url: str, sandbox) -> dict:
    """The environment of every app process: the throwaway database, the private Redis
    and the sandbox."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "platform_admin.settings",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "GCP_API_ENDPOINT": sandbox.http_url,
        "GCP_GRPC_ENDPOINT": sandbox.grpc_target,
        "NO_GCE_CHECK": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "HTTPS": "off",
    }
