"""Cloud Run jobs adapter against the sandbox: the official JobsClient and
ExecutionsClient over gRPC, as the app uses them."""

import time

import pytest

from platform_admin import gcp
from platform_admin.gcp_run_jobs import (
    cancel_execution,
    find_execution,
    get_execution,
    run_with_image,
)
from tests.platform_admin.conftest import STAGING

REGION = "us-central1"
IMAGE = "us-docker.pkg.dev/acme/app/api-server:{tag}@sha256:" + "c" * 64


def _until_done(name: str, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        execution = get_execution(STAGING, name)
        if execution.done:
            return execution
        time.sleep(0.2)
    raise AssertionError(f"{name} still running after {seconds} s")


def test_a_run_uses_the_image_and_args_asked_and_succeeds(gcp_sandbox):
    started = run_with_image(
        STAGING, REGION, "migrate", IMAGE.format(tag="2.0.0"), ["migrate"], 60, {"rollout": "r7"}
    )
    assert not started.done and started.short.startswith("migrate-")
    assert started.labels == {"rollout": "r7"}

    done = _until_done(started.name)
    assert done.succeeded and (done.task_count, done.succeeded_count) == (1, 1)
    assert done.completed_at >= done.started_at and done.log_uri.startswith("https://")
    assert find_execution(STAGING, REGION, "migrate", {"rollout": "r7"}).name == started.name
    assert find_execution(STAGING, REGION, "migrate", {"rollout": "r8"}) is None
    calls = [r for r in gcp_sandbox.requests() if "/jobs/migrate" in r["path"]]
    assert {r.get("transport") for r in calls} == {"grpc"}
    [update] = [r for r in calls if r["method"] == "PATCH"]
    container = update["body"]["template"]["template"]["containers"][0]
    assert container["image"] == IMAGE.format(tag="2.0.0") and container["args"] == ["migrate"]


@pytest.mark.parametrize(
    ("tag", "timeout", "says"),
    [("2.1.0-migration-fails", 60, "already exists"), ("2.1.0-migration-slow", 1, "timed out")],
)
def test_a_failing_or_timed_out_run_says_why(gcp_sandbox, tag, timeout, says):
    image = IMAGE.format(tag=tag)
    started = run_with_image(STAGING, REGION, "migrate", image, [], timeout, {})
    done = _until_done(started.name)
    assert done.done and not done.succeeded and says in done.message
    assert done.failed_count == 1


def test_an_unknown_job_is_not_found(gcp_sandbox):
    with pytest.raises(gcp.GcpNotFound, match="no-such-job"):
        run_with_image(STAGING, REGION, "no-such-job", IMAGE.format(tag="1"), [], 60, {})


def test_a_running_execution_is_cancelled_and_a_finished_one_cannot_be(gcp_sandbox):
    slow = run_with_image(
        STAGING, REGION, "migrate", IMAGE.format(tag="2.2.0-migration-slow"), [], 600, {}
    )

    cancelled = cancel_execution(STAGING, slow.name)

    assert cancelled.done and cancelled.cancelled and not cancelled.succeeded
    assert cancelled.message == "Execution was cancelled."
    assert get_execution(STAGING, slow.name).cancelled
    with pytest.raises(gcp.GcpError, match="already completed") as again:
        cancel_execution(STAGING, slow.name)
    assert not again.value.retryable
