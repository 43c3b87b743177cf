"""Cloud Run Admin API v2 jobs: point a job at an image, run it, follow its execution,
cancel it.

A run is found again by the labels its job template carried (Cloud Run copies them onto
the execution): a caller that died after starting one looks it up instead of starting a
second one.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from platform_admin import gcp
from platform_admin.gcp_run import plain_time, short_name

OPERATION_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class ExecutionState:
    name: str  # the full resource name
    short: str
    done: bool
    succeeded: bool
    cancelled: bool
    message: str
    task_count: int
    succeeded_count: int
    failed_count: int
    running_count: int
    started_at: datetime | None
    completed_at: datetime | None
    log_uri: str
    labels: dict[str, str]


def job_path(project: str, region: str, job: str) -> str:
    return f"projects/{project}/locations/{region}/jobs/{job}"


def _types():
    from google.cloud import run_v2

    return run_v2


def _state(execution) -> ExecutionState:
    state = _types().Condition.State
    completed = next((c for c in execution.conditions if c.type_ == "Completed"), None)
    done = completed is not None and completed.state in (
        state.CONDITION_SUCCEEDED,
        state.CONDITION_FAILED,
    )
    return ExecutionState(
        name=execution.name,
        cancelled=execution.cancelled_count > 0,
        short=short_name(execution.name),
        done=done,
        succeeded=done and completed.state == state.CONDITION_SUCCEEDED,
        message=completed.message if completed else "",
        task_count=execution.task_count,
        succeeded_count=execution.succeeded_count,
        failed_count=execution.failed_count,
        running_count=execution.running_count,
        started_at=plain_time(execution.start_time) if execution.start_time else None,
        completed_at=plain_time(execution.completion_time) if execution.completion_time else None,
        log_uri=execution.log_uri,
        labels=dict(execution.labels),
    )


def run_with_image(
    project: str,
    region: str,
    job: str,
    image: str,
    args: list[str],
    timeout_seconds: int,
    labels: dict[str, str],
) -> ExecutionState:
    """Set the job's container to `image` and `args` (its task timeout, its labels), then
    start an execution; returns the execution as it started."""
    run_v2 = _types()
    name = job_path(project, region, job)
    with gcp.translate(f"updating Cloud Run job {job}", project, api="run"):
        client = gcp.run_jobs_client()
        current = client.get_job(name=name, timeout=gcp.timeout(), retry=gcp.retry_policy())
        template = current.template
        template.labels = {**dict(template.labels), **labels}
        container = template.template.containers[0]
        container.image = image
        container.args[:] = list(args)
        template.template.timeout = timedelta(seconds=timeout_seconds)
        operation = client.update_job(
            job=run_v2.Job(name=name, template=template),
            timeout=gcp.timeout(),
            retry=gcp.retry_policy(),  # the whole job each time: a retry is harmless
        )
        operation.result(timeout=OPERATION_TIMEOUT_SECONDS)
    with gcp.translate(f"running Cloud Run job {job}", project, api="run"):
        # Not retried: a second run would be a second execution (found by its labels).
        operation = gcp.run_jobs_client().run_job(name=name, timeout=gcp.timeout())
        return _state(operation.metadata)


def find_execution(project: str, region: str, job: str, labels: dict[str, str]):
    """The newest execution of `job` whose labels include `labels`, or None."""
    with gcp.translate(f"listing executions of Cloud Run job {job}", project, api="run"):
        pages = gcp.run_executions_client().list_executions(
            parent=job_path(project, region, job), timeout=gcp.timeout(), retry=gcp.retry_policy()
        )
        for execution in pages:
            if all(execution.labels.get(k) == v for k, v in labels.items()):
                return _state(execution)
    return None


def get_execution(project: str, name: str) -> ExecutionState:
    with gcp.translate(f"reading execution {short_name(name)}", project, api="run"):
        execution = gcp.run_executions_client().get_execution(
            name=name, timeout=gcp.timeout(), retry=gcp.retry_policy()
        )
    return _state(execution)


def cancel_execution(project: str, name: str) -> ExecutionState:
    """Stop a running execution (its tasks are killed); returns it as it is afterwards.
    Not retried: one that finished meanwhile answers with a failed precondition."""
    with gcp.translate(f"cancelling execution {short_name(name)}", project, api="run"):
        client = gcp.run_executions_client()
        operation = client.cancel_execution(name=name, timeout=gcp.timeout())
        return _state(operation.result(timeout=OPERATION_TIMEOUT_SECONDS))
