"""The pre-deploy job (database migrations) end to end: a real RQ worker, the official
JobsClient and ExecutionsClient over gRPC against the sandbox's Cloud Run jobs."""

import pytest

from deployments import services
from deployments.engine import JOB_LABEL
from deployments.models import RolloutState
from platform_admin.gcp_run_jobs import run_with_image
from tests.deployments.conftest import (
    finishes_after_a_kill,
    image,
    live_split,
    wait_for,
    wait_for_state,
)

S = RolloutState
RUN = ("api-server", "realtime", "agent")
pytestmark = pytest.mark.django_db(transaction=True)


def _runs(sandbox, since=0) -> list[int]:
    """Where in the request log the job was run (each one is an execution)."""
    return [
        i for i, r in enumerate(sandbox.requests(since)) if r["path"].endswith("/jobs/migrate:run")
    ]


def _traffic_changes(sandbox, since=0) -> list[int]:
    """Where a service's split was set (a deploy's PATCH names the template too)."""
    return [
        i
        for i, r in enumerate(sandbox.requests(since))
        if r["method"] == "PATCH"
        and "/services/" in r["path"]
        and r["query"].get("updateMask") == "traffic"
    ]


def test_the_migrations_run_once_with_the_releases_image_before_traffic_moves(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    mark = len(sandbox.requests())
    release = make_release("6.0.0")
    rollout = services.start_rollout(alice, release, staging, "canary")
    wait_for_state(rollout, S.SUCCEEDED)

    log = sandbox.requests(mark)
    [run] = _runs(sandbox, mark)
    assert run < min(_traffic_changes(sandbox, mark))
    [update] = [r for r in log if r["method"] == "PATCH" and r["path"].endswith("/jobs/migrate")]
    container = update["body"]["template"]["template"]["containers"][0]
    assert container["image"] == release.images()["api-server"] and container["args"] == ["migrate"]
    assert update["body"]["template"]["labels"][JOB_LABEL] == str(rollout.pk)
    job = rollout.jobs["pre_deploy"]
    assert job["state"] == "succeeded" and job["short"].startswith("migrate-")
    assert job["tasks"] == {"total": 1, "succeeded": 1, "failed": 0, "running": 0}
    assert job["seconds"] is not None and job["log_uri"].startswith("https://")
    kinds = list(rollout.events.order_by("pk").values_list("kind", flat=True))
    assert kinds.index("job") < kinds.index("step")


@pytest.mark.parametrize(
    ("tag", "timeout", "says"),
    [("6.1.0-migration-fails", 600, "already exists"), ("6.1.0-migration-slow", 1, "timed out")],
)
def test_a_failed_or_timed_out_migration_fails_the_rollout_with_no_traffic_moved(
    worker, sandbox, fast_plan, staging, alice, make_release, client, slack, tag, timeout, says
):
    staging.pre_deploy = {**staging.pre_deploy, "timeout_seconds": timeout}
    staging.save()
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    rollout = services.start_rollout(alice, make_release("6.1.0", tag=tag), staging, "canary")
    wait_for_state(rollout, S.FAILED)

    assert rollout.message.startswith("Migrations for 6.1.0 failed: ") and says in rollout.message
    assert "No traffic moved." in rollout.message
    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]
    assert not rollout.events.filter(kind="step").exists()
    assert rollout.jobs["pre_deploy"]["state"] == "failed"
    client.force_login(alice)
    page = client.get(f"/deployments/rollouts/{rollout.pk}/live/").content.decode()
    assert says in page and 'data-state="failed"' in page
    wait_for(lambda: any("Migrations for 6.1.0 failed" in m for m in slack), 10, what="slack")


def test_a_run_started_by_a_pass_that_died_is_found_not_started_again(
    worker, sandbox, fast_plan, production, alice, bob, make_release
):
    production.promote_from = None
    production.save()
    rollout = services.start_rollout(alice, make_release("6.2.0"), production, "all_at_once")
    assert rollout.state == S.PENDING_APPROVAL
    # What a pass killed right after starting the execution leaves: the run, unrecorded.
    started = run_with_image(
        production.gcp_project,
        production.region,
        "migrate",
        image("api-server"),
        ["migrate"],
        600,
        {JOB_LABEL: str(rollout.pk)},
    )
    mark = len(sandbox.requests())
    services.approve(bob, rollout)
    wait_for_state(rollout, S.SUCCEEDED)

    assert _runs(sandbox, mark) == []  # found by its label
    assert rollout.jobs["pre_deploy"]["execution"] == started.name


def test_a_worker_killed_while_the_execution_runs_resumes_without_a_second_one(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    mark = len(sandbox.requests())
    rollout = services.start_rollout(alice, make_release("6.3.0"), staging, "all_at_once")

    def migrating():
        rollout.refresh_from_db()
        return rollout.state == S.MIGRATING and rollout.jobs["pre_deploy"].get("execution")

    wait_for(migrating, 30, what="the execution to start")
    finishes_after_a_kill(worker, rollout, S.SUCCEEDED)
    assert len(_runs(sandbox, mark)) == 1


def test_aborting_while_the_migrations_run_cancels_their_execution(
    worker, sandbox, fast_plan, staging, alice, make_release, client
):
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    slow = make_release("6.4.0", tag="6.4.0-migration-slow")  # runs for an hour
    rollout = services.start_rollout(alice, slow, staging, "canary")

    def migrating():
        rollout.refresh_from_db()
        return rollout.state == S.MIGRATING and rollout.jobs["pre_deploy"].get("execution")

    wait_for(migrating, 30, what="the execution to start")
    execution = rollout.jobs["pre_deploy"]["execution"]
    services.abort(alice, rollout, "wrong release")
    wait_for_state(rollout, S.ABORTED)

    [cancel] = [r for r in sandbox.requests() if r["path"].endswith(":cancel")]
    assert cancel["path"] == f"/v2/{execution}:cancel"
    job = rollout.jobs["pre_deploy"]
    assert job["state"] == "cancelled" and job["message"] == "Execution was cancelled."
    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]
    assert rollout.events.filter(kind="job", message__startswith="Migrations cancelled").exists()
    client.force_login(alice)
    page = client.get(f"/deployments/rollouts/{rollout.pk}/live/").content.decode()
    assert "cancelled (the rollout was stopped)" in page


def test_a_rollback_runs_no_migration_and_warns_across_a_migrating_release(
    worker, sandbox, fast_plan, staging, alice, make_release, client
):
    first = services.start_rollout(alice, make_release("6.4.0"), staging, "all_at_once")
    wait_for_state(first, S.SUCCEEDED)
    second = services.start_rollout(
        alice, make_release("6.5.0", digest_char="e"), staging, "all_at_once"
    )
    wait_for_state(second, S.SUCCEEDED)

    client.force_login(alice)
    environment = client.get("/deployments/environments/staging/").content.decode()
    assert "Rolling back to 6.4.0: 6.5.0 ran database migrations" in environment
    mark = len(sandbox.requests())
    back = services.rollback(alice, staging, "6.4.0")
    warning = back.jobs["warning"]
    assert warning.startswith("6.5.0 ran database migrations after 6.4.0 went out")
    page = client.get(f"/deployments/rollouts/{back.pk}/live/").content.decode()
    assert "6.5.0 ran database migrations" in page
    wait_for_state(back, S.SUCCEEDED)
    assert _runs(sandbox, mark) == []
    assert "pre_deploy" not in back.jobs


def test_a_release_without_the_jobs_image_runs_no_migration(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    mark = len(sandbox.requests())
    rollout = services.start_rollout(
        alice, make_release("6.6.0", services=("realtime",)), staging, "all_at_once"
    )
    wait_for_state(rollout, S.SUCCEEDED)
    assert _runs(sandbox, mark) == [] and rollout.jobs == {}
