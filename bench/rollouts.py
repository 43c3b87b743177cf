"""Rollouts: 50 canaries at once through the CI API, 2 RQ workers, the sandbox as Google.

Each rollout: 3 Cloud Run services, steps 5/25/50/100, bake 1 s. The 100% step has no
bake, so the planned time of a rollout is 3 × bake_seconds = 3 s; everything beyond that,
from the API call to `finished_at`, is orchestration overhead: the web request, queueing,
the scheduler, the engine's passes, the Google client calls and the sandbox answering them.

The sandbox finishes Cloud Run operations at once (`--ready-delay 0`): a real revision
takes seconds to get ready and a traffic update a second or more, which no orchestrator
can shorten, so counting a made-up operation time would measure the sandbox, not us.

First a warm-up (not measured: the first rollouts after start-up pay for each process's
first connections and clients), then the baseline, one rollout alone on the same stack,
then BATCHES batches of 50, one after the other, each deploying a new release everywhere.
Targets, over the rollouts of all batches: the median overhead < 20% of the planned time;
p95 from the API call to that rollout's first Google call < 1 s. Everything runs on this
machine's cores, whose speed drifts from run to run (the same work takes up to a third
more CPU at times), so each batch is printed too, with the CPU each part used.
"""

import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# The defaults of scripts/bench.sh, so `python bench/rollouts.py` alone works too.
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/platform_admin_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("HTTPS", "off")
os.environ.setdefault("NO_GCE_CHECK", "true")

from _django import throwaway_database  # noqa: E402
from _stack import Stack, database_url, process_env, start_web, start_workers  # noqa: E402

N_ENVS = 50
BATCHES = 3
WORKERS = 2
BAKE_SECONDS = 1
STEPS = [5, 25, 50, 100]
PLANNED = BAKE_SECONDS * (len(STEPS) - 1)  # the 100% step has no bake
SANDBOX_RPS = 400  # 5% of 400 rps over a 1 s bake ≈ 20 requests ≥ MIN_REQUESTS
MIN_REQUESTS = 10
READY_DELAY = 0.0  # see the module docstring
SERVICES = ("api-server", "realtime", "agent")
WARM_UP = 4
BASELINE_TIMEOUT = 60.0
CONCURRENT_TIMEOUT = 180.0
OVERHEAD_TARGET = 0.20
FIRST_CALL_TARGET = 1.0


def platform_toml(count: int) -> str:
    parts = ['[billing]\naccount = "01A2B3-C4D5E6-F7A8B9"\n']
    for i in range(count):
        parts.append(
            f'[[environments]]\nslug = "bench-{i:02d}"\nname = "Bench {i:02d}"\n'
            f'gcp_project = "bench-proj-{i:02d}"\nregion = "us-central1"\n'
            'monthly_target = 100\nrequires_approval = false\ndefault_strategy = "canary"\n'
            f"[environments.canary]\nsteps = {STEPS}\nbake_seconds = {BAKE_SECONDS}\n"
            f"min_requests = {MIN_REQUESTS}\n"
        )
        for name in SERVICES:
            parts.append(f'[[environments.services]]\nname = "{name}"\nkind = "cloud_run"\n')
    return "\n".join(parts)


def image(service: str, digest_char: str) -> str:
    return f"us-docker.pkg.dev/bench/app/{service}@sha256:{digest_char * 64}"


def batch_release(batch: int) -> str:
    return f"{batch + 2}.0.0"


def seed(platform_path: Path) -> str:
    """Environments from the file, a deployer with an API token, two releases."""
    from django.contrib.auth import get_user_model

    from deployments import services, tokens
    from platform_admin.models import Role
    from platform_admin.platform_file import load_platform
    from platform_admin.services import grant_role
    from platform_admin.sync import sync_platform

    sync_platform(load_platform(platform_path))
    users = get_user_model().objects
    admin = users.create_superuser("bench-admin", "admin@bench.invalid", None)
    deployer = users.create_user("bench-ci", "ci@bench.invalid", None)
    grant_role(admin, deployer, Role.DEPLOYER)  # on every environment
    releases = [("1.0.0", "b")] + [(batch_release(b), "cdef"[b]) for b in range(BATCHES)]
    for version, digest in releases:
        services.create_release(deployer, version, {s: image(s, digest) for s in SERVICES})
    return tokens.create_token(deployer, "bench")


def post_rollout(base: str, token: str, release: str, env_slug: str) -> tuple[float, int]:
    """POST /api/v1/rollouts; returns (wall time of the call, rollout id)."""
    body = json.dumps({"release": release, "environment": env_slug}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/rollouts",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.time()
    with urllib.request.urlopen(request, timeout=30) as resp:
        if resp.status != 202:
            raise RuntimeError(f"POST /api/v1/rollouts answered {resp.status}")
        return started, json.loads(resp.read())["id"]


def wait_terminal(ids: list[int], timeout: float) -> bool:
    from deployments.models import Rollout, RolloutState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = Rollout.objects.filter(pk__in=ids, state__in=RolloutState.active()).count()
        if not active:
            return True
        time.sleep(0.5)
    return False


def first_google_calls(sandbox, since: int) -> dict[str, float]:
    """The time of the first logged Google call per project, from request `since` on."""
    first: dict[str, float] = {}
    for entry in sandbox.requests(since):
        where = entry["path"] if entry["method"] != "GRPC" else json.dumps(entry.get("body"))
        if "projects/bench-proj-" not in where:
            continue
        project = where.split("projects/", 1)[1][:13]
        first.setdefault(project, entry["time"])
    return first


def on_new_revisions(services: dict, rollout) -> bool:
    """Every service of the rollout serves 100% from its new revision (sandbox state)."""
    env = rollout.environment
    for name in SERVICES:
        key = f"projects/{env.gcp_project}/locations/{env.region}/services/{name}"
        split = {k: v for k, v in services[key]["split"].items() if v}
        if split != {rollout.revisions[name]["canary"]: 100}:
            return False
    return True


class Run:
    """One batch of rollouts started through the API at about the same time."""

    def __init__(self, label: str, stack: Stack, sandbox, base: str, token: str):
        self.label, self.stack, self.sandbox = label, stack, sandbox
        self.base, self.token = base, token
        self.started: dict[int, float] = {}
        self.first_call: dict[int, float] = {}
        self.cpu: dict[str, float] = {}
        self.wall = 0.0
        self.on_new = 0

    def start(self, release: str, slugs: list[str], timeout: float) -> bool:
        since = len(self.sandbox.requests(0))
        cpu_before, began = self.stack.cpu_seconds(), time.monotonic()
        with ThreadPoolExecutor(max_workers=10) as pool:
            calls = list(pool.map(lambda s: post_rollout(self.base, self.token, release, s), slugs))
        self.started = {pk: at for at, pk in calls}
        finished = wait_terminal(list(self.started), timeout)
        self.wall = time.monotonic() - began
        cpu_after = self.stack.cpu_seconds()
        self.cpu = {role: cpu_after[role] - cpu_before.get(role, 0.0) for role in cpu_after}
        self._match_first_calls(since)
        return finished

    def _match_first_calls(self, since: int) -> None:
        from deployments.models import Rollout

        firsts = first_google_calls(self.sandbox, since)
        for rollout in Rollout.objects.filter(pk__in=self.started).select_related("environment"):
            at = firsts.get(rollout.environment.gcp_project)
            if at is not None:
                self.first_call[rollout.pk] = at - self.started[rollout.pk]

    def rollouts(self):
        from deployments.models import Rollout

        return list(
            Rollout.objects.filter(pk__in=self.started)
            .select_related("environment")
            .prefetch_related("events")
        )


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: with 50 values, p95 is the 48th)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def phases(rollout, started: float) -> dict[str, float]:
    """Where one rollout's time went, from its timeline (seconds)."""
    steps = [e.created_at.timestamp() for e in rollout.events.all() if e.kind == "step"]
    if not steps or rollout.finished_at is None:
        return {}
    gaps = [b - a - BAKE_SECONDS for a, b in zip(steps, steps[1:], strict=False)]
    return {
        "to_first_split": steps[0] - started,
        "per_step_beyond_bake": statistics.mean(gaps) if gaps else 0.0,
    }


def summarise(*runs: Run) -> dict:
    """The figures of one run, or of several runs' rollouts together."""
    run = runs[0]
    if len(runs) > 1:
        run = Run("together", run.stack, run.sandbox, run.base, run.token)
        for each in runs:
            run.started.update(each.started)
            run.first_call.update(each.first_call)
            for role, seconds in each.cpu.items():
                run.cpu[role] = run.cpu.get(role, 0.0) + seconds
            run.wall += each.wall
    rollouts = run.rollouts()
    done = [r for r in rollouts if r.finished_at is not None]
    walls = [r.finished_at.timestamp() - run.started[r.pk] for r in done]
    overheads = [(w - PLANNED) / PLANNED for w in walls]
    profile = [phases(r, run.started[r.pk]) for r in done]
    profile = [p for p in profile if p]
    if len(runs) > 1:  # each batch was checked against the sandbox when it ended
        on_new = sum(each.on_new for each in runs)
    else:
        live = run.sandbox.state()["services"]
        on_new = sum(r.state == "succeeded" and on_new_revisions(live, r) for r in rollouts)
        run.on_new = on_new
    return {
        "total": len(rollouts),
        "succeeded": sum(r.state == "succeeded" for r in rollouts),
        "on_new": on_new,
        "wall_median": statistics.median(walls) if walls else float("nan"),
        "wall_max": max(walls, default=float("nan")),
        "overhead_median": statistics.median(overheads) if overheads else float("nan"),
        "overhead_max": max(overheads, default=float("nan")),
        "first_call_p95": percentile(list(run.first_call.values()), 95)
        if run.first_call
        else float("nan"),
        "first_call_max": max(run.first_call.values(), default=float("nan")),
        "to_first_split": statistics.median(p["to_first_split"] for p in profile)
        if profile
        else float("nan"),
        "per_step": statistics.median(p["per_step_beyond_bake"] for p in profile)
        if profile
        else float("nan"),
        "cpu": run.cpu,
        "run_wall": run.wall,
    }


def verdict(ok: bool) -> str:
    return "target met" if ok else "TARGET NOT MET"


def report(label: str, s: dict, in_time: bool) -> None:
    print(
        f"{label}: {s['succeeded']}/{s['total']} succeeded, {s['on_new']}/{s['total']} with "
        f"100% on the new revisions{'' if in_time else ' (TIMED OUT waiting)'}"
    )
    print(
        f"  wall per rollout (API call -> finished_at): median {s['wall_median']:.2f}s, "
        f"max {s['wall_max']:.2f}s; planned {PLANNED}s (3 bakes x {BAKE_SECONDS}s, "
        "the 100% step has no bake)"
    )
    median, most = s["overhead_median"], s["overhead_max"]
    print(
        f"  overhead median: {median * PLANNED:.2f}s = {median * 100:.0f}% of planned "
        f"(target < {OVERHEAD_TARGET:.0%}: {verdict(median < OVERHEAD_TARGET)}); "
        f"max {most * PLANNED:.2f}s = {most * 100:.0f}%"
    )
    p95 = s["first_call_p95"]
    print(
        f"  API call -> first Google call: p95 {p95:.2f}s, max {s['first_call_max']:.2f}s "
        f"(target p95 < {FIRST_CALL_TARGET:.0f}s: {verdict(p95 < FIRST_CALL_TARGET)})"
    )
    print(
        f"  profile (medians): API call -> first split in place {s['to_first_split']:.2f}s; "
        f"each later step beyond its {BAKE_SECONDS}s bake {s['per_step']:.2f}s"
    )
    cpu = ", ".join(f"{role} {seconds:.1f}s" for role, seconds in sorted(s["cpu"].items()))
    busy = sum(s["cpu"].values()) / (s["run_wall"] * (os.cpu_count() or 1))
    print(
        f"  CPU used from the first API call until all finished ({s['run_wall']:.1f}s on "
        f"{os.cpu_count()} cores, {busy:.0%} busy): {cpu}"
    )


def brief(label: str, s: dict) -> None:
    cpu = ", ".join(f"{role} {seconds:.1f}s" for role, seconds in sorted(s["cpu"].items()))
    print(
        f"{label}: {s['succeeded']}/{s['total']} succeeded; overhead median "
        f"{s['overhead_median'] * 100:.0f}%, first split {s['to_first_split']:.2f}s, "
        f"first Google call p95 {s['first_call_p95']:.2f}s; CPU {cpu}"
    )


def wait_for_workers(count: int, timeout: float = 30.0) -> None:
    import django_rq
    from rq import Worker

    connection = django_rq.get_connection("deploys")
    deadline = time.monotonic() + timeout
    while len(Worker.all(connection=connection)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} RQ workers did not start within {timeout}s")
        time.sleep(0.2)


def bench(stack: Stack, platform_path: Path) -> None:
    from django.db import connection

    from tests.sandbox_fixture import start_sandbox

    sandbox = start_sandbox(platform_path, "--rps", str(SANDBOX_RPS), ready_delay=READY_DELAY)
    stack.adopt(sandbox.process, "sandbox")
    token = seed(platform_path)
    env = process_env(database_url(connection.settings_dict), sandbox)
    start_workers(stack, env, WORKERS)
    base = start_web(stack, env)
    wait_for_workers(WORKERS)

    # Warm-up, not measured: the first rollouts after start-up pay for each process's
    # first database connections, Google clients and URL resolver.
    warm = Run("warm-up", stack, sandbox, base, token)
    warm_in_time = warm.start("1.0.0", [f"bench-{i:02d}" for i in range(1, 1 + WARM_UP)], 60)
    cold = summarise(warm)
    print(
        f"warm-up, {WARM_UP} rollouts on fresh processes (not measured): {cold['succeeded']}/"
        f"{cold['total']} succeeded{'' if warm_in_time else ' (TIMED OUT waiting)'}; "
        f"API call -> first Google call max {cold['first_call_max']:.2f}s"
    )

    single = Run("single", stack, sandbox, base, token)
    single_in_time = single.start("1.0.0", ["bench-00"], BASELINE_TIMEOUT)
    alone = summarise(single)
    report("baseline, 1 rollout alone", alone, single_in_time)

    slugs = [f"bench-{i:02d}" for i in range(N_ENVS)]
    batches, in_time = [], True
    for b in range(BATCHES):
        batch = Run(f"batch {b + 1}", stack, sandbox, base, token)
        in_time = batch.start(batch_release(b), slugs, CONCURRENT_TIMEOUT) and in_time
        batches.append(batch)
        brief(f"batch {b + 1}", summarise(batch))
    together = summarise(*batches)
    report(
        f"{N_ENVS} concurrent rollouts, {WORKERS} workers, {BATCHES} batches together "
        f"({BATCHES * N_ENVS} rollouts)",
        together,
        in_time,
    )
    ratio = together["overhead_median"] / alone["overhead_median"]
    print(f"  median overhead, {N_ENVS} concurrent vs 1 alone: {ratio:.2f}x")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, throwaway_database():
        import django_rq

        redis = django_rq.get_connection("deploys")
        redis.flushdb()  # REDIS_URL names a database only benchmarks use
        platform_path = Path(tmp) / "platform.bench.toml"
        platform_path.write_text(platform_toml(N_ENVS))
        stack = Stack()
        try:
            bench(stack, platform_path)
        finally:
            stack.stop()
            redis.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
