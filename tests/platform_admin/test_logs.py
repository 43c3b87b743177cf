"""RQ's lines about the every-second tick stay out of the logs; every other job's stay."""

import logging

from platform_admin.logs import QuietPeriodicJobs


def _record(msg, *args, level=logging.INFO):
    return logging.LogRecord("rq.worker", level, __file__, 1, msg, args, None)


def test_the_ticks_lines_are_dropped_and_other_jobs_kept():
    quiet = QuietPeriodicJobs()

    assert not quiet.filter(
        _record("Worker %s: %s: %s (%s)", "w1", "deploys", "deployments.jobs.tick()", "id-1")
    )
    assert not quiet.filter(_record("Worker %s: %s: %s (%s)", "w1", "deploys", "Job OK", "id-1"))
    assert not quiet.filter(
        _record("Worker %s: job %s result is kept for %s seconds", "w1", "id-1", 60)
    )
    assert quiet.filter(
        _record(
            "Worker %s: %s: %s (%s)",
            "w1",
            "deploys",
            "deployments.jobs.advance_rollout(7, '')",
            "id-2",
        )
    )
    assert quiet.filter(_record("Worker %s: %s: %s (%s)", "w1", "deploys", "Job OK", "id-2"))


def test_a_failing_tick_is_still_logged():
    quiet = QuietPeriodicJobs()
    quiet.filter(
        _record("Worker %s: %s: %s (%s)", "w1", "deploys", "deployments.jobs.tick()", "id-3")
    )

    assert quiet.filter(_record("Worker %s: job %s failed", "w1", "id-3", level=logging.ERROR))
