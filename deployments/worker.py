"""The deploy worker (`settings.RQ["WORKER_CLASS"]`, the Procfile's `deploys` line): RQ's
SimpleWorker running up to `DEPLOYMENTS_WORKER_THREADS` jobs at once in threads.

Why not RQ's default worker: a rollout pass mostly waits on Google (a revision getting
ready, a traffic update applying, a VM's health probe), and the default worker forks a
work horse per job and runs one at a time, so every rollout in a busy hour would wait
behind the one whose revision is slow to get ready. Here a job is taken off the queue
only when a thread is free; each thread keeps its database connection between jobs, as
Django does between requests; a job's timeout is enforced in its thread. Two threads
never run one rollout together: a pass holds the rollout's lease (`leases`). A warm
shutdown (SIGTERM) waits for the running jobs; a SIGKILL loses them, and their leases
lapse within seconds for the tick to hand the rollouts to another worker.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections
from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.timeouts import TimerDeathPenalty
from rq.worker import WorkerStatus

FREE_THREAD_WAIT_SECONDS = 5.0


class DeployWorker(SimpleWorker):
    death_penalty_class = TimerDeathPenalty  # SIGALRM is per process, not per thread

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        close_old_connections()  # this thread's, as Django does around a request
        try:
            self.perform_job(job, queue, execution)  # records success or failure in Redis
        finally:
            close_old_connections()
            self._free.release()

    def teardown(self):
        self._pool.shutdown(wait=True)  # a warm shutdown lets the running jobs finish
        super().teardown()
