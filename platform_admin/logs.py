"""Logging helpers (`settings.LOGGING`)."""

import logging
from collections import deque

from django.conf import settings


class QuietPeriodicJobs(logging.Filter):
    """Drop RQ's INFO lines about the periodic jobs that run every few seconds (the rollout
    tick): four lines a second that would bury every other job's. Warnings and errors of
    those jobs still come through."""

    def __init__(self, name: str = ""):
        super().__init__(name)
        self.funcs = [
            job["func"] for job in settings.PERIODIC_JOBS if (job.get("interval") or 60) < 60
        ]
        self.job_ids: deque[str] = deque(maxlen=64)  # the quiet jobs' ids, recently seen

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        text = record.getMessage()
        if any(func in text or func.rsplit(".", 1)[-1] in text for func in self.funcs):
            job_id = record.args[-1] if isinstance(record.args, tuple) and record.args else ""
            if isinstance(job_id, str) and job_id:
                self.job_ids.append(job_id)
            return False
        return not any(job_id in text for job_id in self.job_ids)
