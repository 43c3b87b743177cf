"""The RQ worker class (`settings.RQ["WORKER_CLASS"]`): jobs run in a small thread pool,
and a scheduler that releases due jobs within a tenth of a second.

A rollout pass mostly waits on Google (a revision getting ready, a traffic update
applying, Monitoring queries). RQ's default worker forks a work horse per job and runs one
job at a time, so two workers advanced two rollouts at once and each job paid for a fork,
a database connection and new gRPC channels. This worker runs up to
`DEPLOYMENTS_WORKER_THREADS` jobs at once in threads of the worker process:

- a job is taken off the queue only when a thread is free, so a busy worker leaves the
  queue to the others;
- each thread has its own database connection, kept between jobs as Django keeps one
  between requests (`DATABASE_CONN_MAX_AGE`; closed when too old or broken);
- two threads never advance one rollout together: the engine locks the rollout row
  (`select_for_update(skip_locked=True)`) and a duplicate leaves it to the first;
- a job's timeout is enforced in its thread (`TimerDeathPenalty`; SIGALRM is per process);
- a warm shutdown (SIGTERM) stops taking jobs and waits for the running ones; a cold one
  or a SIGKILL loses them, and the reconciler re-enqueues their rollouts.

The Google client libraries are imported once when the worker starts, and the clients
(gRPC channels) are shared by the threads, as `fanout` already shares them.
"""

import importlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections
from rq import SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.worker import WorkerStatus

PRELOAD = (
    "deployments.engine",
    "google.cloud.run_v2",
    "google.cloud.monitoring_v3",
    "google.cloud.compute_v1",
)
# How often the scheduler moves due jobs to their queue. A rollout's next check is due at
# the end of a bake of a few seconds; RQ's 1 s added up to half a second to every step.
SCHEDULER_POLL_SECONDS = 0.1
# A scheduled job goes on its queue this long before it is due, and its thread waits out
# the rest (`jobs._wait_until`): it starts on time, not up to a scheduler look late.
RELEASE_LEAD_SECONDS = 2 * SCHEDULER_POLL_SECONDS
FREE_THREAD_WAIT_SECONDS = 5.0


class PreciseScheduledJobRegistry(ScheduledJobRegistry):
    """The jobs due within RELEASE_LEAD_SECONDS, by the fraction of a second: RQ's
    scheduler asks in whole seconds, which released a job due at 12:00:00.7 from
    12:00:00 on, to wait in a worker thread for most of a second."""

    def get_jobs_to_schedule(self, timestamp=None, chunk_size=1000):
        return super().get_jobs_to_schedule(time.time() + RELEASE_LEAD_SECONDS, chunk_size)


class PromptScheduler(RQScheduler):
    """RQ's scheduler, looking for due jobs every SCHEDULER_POLL_SECONDS.

    RQ uses `interval` both as its sleep and, plus 60, as the TTL of its Redis lock, which
    Redis wants in whole seconds; so `interval` stays 1 and only the loop's sleep is
    shorter. The loop is RQ 3.0's `work()` with that change, and a heartbeat (which
    renews the lock) once per `interval`, not at every look.
    """

    def prepare_registries(self, queue_names=None):
        super().prepare_registries(queue_names)
        self._scheduled_job_registries = [
            PreciseScheduledJobRegistry(
                r.name, connection=self.connection, serializer=self.serializer
            )
            for r in self._scheduled_job_registries
        ]

    def work(self):
        self._install_signal_handlers()
        self.register_birth()
        last_heartbeat = 0.0
        while not self._stop_requested:
            if self.should_reacquire_locks:
                self.acquire_locks()
            if time.monotonic() - last_heartbeat >= self.interval:
                self.heartbeat()
                last_heartbeat = time.monotonic()
            self.enqueue_scheduled_jobs()
            time.sleep(SCHEDULER_POLL_SECONDS)
        self.stop()


class DeployWorker(SimpleWorker):
    """Runs up to `threads` jobs at once, each in a thread of this process (no fork)."""

    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in PRELOAD:
            importlib.import_module(name)
        self.threads = settings.DEPLOYMENTS_WORKER_THREADS
        self._free = threading.BoundedSemaphore(self.threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="rq-job")

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        while not self._free.acquire(timeout=FREE_THREAD_WAIT_SECONDS):
            self.heartbeat()  # every thread busy: stay registered while waiting
        if self._stop_requested:  # a warm shutdown came while a job was being handed over
            self._free.release()
            raise StopRequested()
        result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        if result is None:
            self._free.release()
        return result

    def execute_job(self, job, queue):
        execution = self.prepare_execution(job)
        self._pool.submit(self._perform, job, queue, execution)
        self.set_state(WorkerStatus.IDLE)  # this thread is free again: SIGTERM stops it

    def _perform(self, job, queue, execution) -> None:
        close_old_connections()  # this thread's: as Django does around a request
        try:
            self.perform_job(job, queue, execution)  # records success or failure in Redis
        finally:
            close_old_connections()
            self._free.release()

    def teardown(self):
        self._pool.shutdown(wait=True)  # a warm shutdown lets the running jobs finish
        super().teardown()

    def _start_scheduler(
        self,
        burst=False,
        logging_level="INFO",
        date_format=DEFAULT_LOGGING_DATE_FORMAT,
        log_format=DEFAULT_LOGGING_FORMAT,
    ):
        """RQ 3.0's `_start_scheduler`, with PromptScheduler (RQ has no hook for the class)."""
        self.scheduler = PromptScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()
