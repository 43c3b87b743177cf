"""Cloud Run Admin API v2 jobs and executions over REST (served over gRPC too, see
`cloudrun_grpc`): get and replace a job, run it, get, list and cancel its executions.

A job is seeded per environment from the platform file's `[environments.pre_deploy]`.
An execution runs one task for twice `--ready-delay`; an image whose tag ends in
`-migration-fails` fails after that time with a migration's error, one ending in
`-migration-slow` runs for an hour, so the job's task timeout ends it first. Executions
copy the job template's labels, as Cloud Run's do.
"""

from . import det, faults
from .errors import ApiError, not_found

PARENT = r"/v2/(?P<parent>projects/[^/]+/locations/[^/]+)"
JOB = PARENT + r"/jobs/(?P<job>[^/:]+)"
JOB_TYPE = "type.googleapis.com/google.cloud.run.v2.Job"
EXECUTION_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"
SLOW_SECONDS = 3600.0
FAILED_MIGRATION = (
    "Task {task} failed with message: django.db.utils.ProgrammingError: relation "
    '"rooms_participant" already exists. The container exited with an error.'
)


def seed(state, env, now: float, images: dict[str, str]) -> None:
    spec = env.pre_deploy
    if not spec.get("job"):
        return
    name = f"projects/{env.project}/locations/{env.region}/jobs/{spec['job']}"
    state.data["jobs"][name] = {
        "name": name,
        "uid": det.digest("job-uid", name)[:36],
        "generation": 1,
        "createTime": now,
        "updateTime": now,
        "template": {
            "labels": {},
            "taskCount": 1,
            "template": {
                "containers": [
                    {
                        "image": images.get(spec.get("image_of", ""), ""),
                        "args": list(spec.get("args", [])),
                    }
                ],
                "timeout": f"{int(spec.get('timeout_seconds', 600))}s",
                "maxRetries": 0,
            },
        },
    }


def _job(state, m) -> dict:
    name = f"{m['parent']}/jobs/{m['job']}"
    job = state.data["jobs"].get(name)
    if job is None:
        raise not_found(f"Resource '{m['job']}' of kind 'JOB' in region")
    return job


def _operation(m, op: str, kind: str, resource: dict, done: bool) -> dict:
    """A long-running operation on `resource`: its metadata, and its response once done."""
    out = {
        "name": f"{m['parent']}/operations/{op}",
        "done": done,
        "metadata": {"@type": kind, **resource},
    }
    if done:
        out["response"] = {"@type": kind, **resource}
    return out


def _seconds(text: str) -> float:
    return float(text.rstrip("s") or 0)


def render_job(state, job: dict) -> dict:
    out = {
        "name": job["name"],
        "uid": job["uid"],
        "generation": str(job["generation"]),
        "createTime": det.rfc3339(job["createTime"]),
        "updateTime": det.rfc3339(job["updateTime"]),
        "template": job["template"],
        "etag": det.digest("job-etag", job["name"], job["generation"])[:24],
        "executionCount": sum(
            1 for e in state.data["executions"].values() if e["job"] == job["name"]
        ),
    }
    return out


def get_job(state, req, m):
    return 200, render_job(state, _job(state, m))


def update_job(state, req, m):
    """Replace the job (v2 UpdateJob has no field mask); a done operation answers."""
    job = _job(state, m)
    body = req.body or {}
    template = body.get("template")
    if not isinstance(template, dict) or not (template.get("template") or {}).get("containers"):
        raise ApiError(400, "Job template must name at least one container.")
    job["template"] = template
    job["generation"] += 1
    job["updateTime"] = req.now
    state.save()
    op = det.digest("job-op", job["name"], job["generation"])
    return 200, _operation(m, op, JOB_TYPE, render_job(state, job), done=True)


def run_job(state, req, m):
    """Start an execution of the job's current template; the operation stays running
    (it completes with the execution); its metadata is the execution."""
    job = _job(state, m)
    count = sum(1 for e in state.data["executions"].values() if e["job"] == job["name"])
    short = f"{m['job']}-{det.digest('exec', job['name'], count, req.now)[:5]}"
    container = job["template"]["template"]["containers"][0]
    tag = faults.image_tag(container.get("image", ""))
    timeout = _seconds(job["template"]["template"].get("timeout", "600s"))
    runs = SLOW_SECONDS if tag.endswith("-migration-slow") else 2 * state.options.ready_delay
    execution = {
        "name": f"{job['name']}/executions/{short}",
        "short": short,
        "job": job["name"],
        "labels": dict(job["template"].get("labels") or {}),
        "template": job["template"]["template"],
        "createTime": req.now,
        "ends_at": req.now + min(runs, timeout),
        "outcome": "timeout"
        if runs > timeout
        else ("failed" if tag.endswith("-migration-fails") else "succeeded"),
    }
    state.data["executions"][execution["name"]] = execution
    state.save()
    op = det.digest("run-op", execution["name"])
    return 200, _operation(m, op, EXECUTION_TYPE, render_execution(execution, req.now), done=False)


def render_execution(execution: dict, now: float) -> dict:
    done = now >= execution["ends_at"]
    outcome = execution["outcome"] if done else "running"
    task = f"{execution['short']}-task0"
    condition = {
        "type": "Completed",
        "lastTransitionTime": det.rfc3339(min(now, execution["ends_at"])),
    }
    if outcome == "running":
        condition.update(state="CONDITION_RECONCILING", message="Execution is running.")
    elif outcome == "cancelled":
        condition.update(
            state="CONDITION_FAILED",
            message="Execution was cancelled.",
            executionReason="CANCELLED",
        )
    elif outcome == "succeeded":
        condition.update(state="CONDITION_SUCCEEDED", message="Execution completed successfully.")
    elif outcome == "failed":
        condition.update(
            state="CONDITION_FAILED",
            message=FAILED_MIGRATION.format(task=task),
            reason="NON_ZERO_EXIT_CODE",
        )
    else:
        timeout = execution["template"].get("timeout", "")
        condition.update(
            state="CONDITION_FAILED",
            message=f"Task {task} timed out after {timeout}.",
            reason="TIMED_OUT",
        )
    project = execution["name"].split("/")[1]
    out = {
        "name": execution["name"],
        "uid": det.digest("exec-uid", execution["name"])[:36],
        "job": execution["job"].rsplit("/", 1)[-1],
        "labels": execution["labels"],
        "createTime": det.rfc3339(execution["createTime"]),
        "startTime": det.rfc3339(execution["createTime"]),
        "taskCount": 1,
        "runningCount": 0 if done else 1,
        "succeededCount": 1 if outcome == "succeeded" else 0,
        "failedCount": 1 if outcome in ("failed", "timeout") else 0,
        "cancelledCount": 1 if outcome == "cancelled" else 0,
        "retriedCount": 0,
        "reconciling": not done,
        "conditions": [condition],
        "template": execution["template"],
        "logUri": f"https://console.cloud.google.com/logs/viewer?project={project}"
        f"&resource=cloud_run_job/job_name/{execution['job'].rsplit('/', 1)[-1]}",
    }
    if done:
        out["completionTime"] = det.rfc3339(execution["ends_at"])
    return out


def _execution(state, m) -> dict:
    name = f"{m['parent']}/jobs/{m['job']}/executions/{m['execution']}"
    execution = state.data["executions"].get(name)
    if execution is None:
        raise not_found(f"Resource '{m['execution']}' of kind 'EXECUTION'")
    return execution


def get_execution(state, req, m):
    return 200, render_execution(_execution(state, m), req.now)


def cancel_execution(state, req, m):
    """Stop a running execution at once (its task is killed); a finished one cannot be."""
    execution = _execution(state, m)
    if req.now >= execution["ends_at"]:
        raise ApiError(400, "Execution has already completed.", "FAILED_PRECONDITION")
    execution.update(ends_at=req.now, outcome="cancelled")
    state.save()
    op = det.digest("cancel-op", execution["name"])
    return 200, _operation(m, op, EXECUTION_TYPE, render_execution(execution, req.now), done=True)


def list_executions(state, req, m):
    job = _job(state, m)
    items = sorted(
        (e for e in state.data["executions"].values() if e["job"] == job["name"]),
        key=lambda e: -e["createTime"],
    )
    return 200, {"executions": [render_execution(e, req.now) for e in items]}


ROUTES = [
    ("GET", JOB, get_job),
    ("PATCH", JOB, update_job),
    ("POST", JOB + r":run", run_job),
    ("GET", JOB + r"/executions", list_executions),
    ("GET", JOB + r"/executions/(?P<execution>[^/:]+)", get_execution),
    ("POST", JOB + r"/executions/(?P<execution>[^/:]+):cancel", cancel_execution),
]
