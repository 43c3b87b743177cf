"""Every periodic job of the platform, for RQ's cron scheduler: the Procfile's `cron`
line, `python manage.py rqcron platform_admin.cron`.

The jobs themselves are listed in `settings.PERIODIC_JOBS` (dotted paths, so this layer
imports no app above it): the rollout tick now, health sampling, billing pulls and price
refreshes next. A tick that waits in its queue longer than `ttl` is dropped (the next one
does its work), so a stopped worker never comes back to a pile of them. Two cron
processes are harmless: every job claims its work in the database, race-free.
"""

from django.conf import settings
from django.utils.module_loading import import_string
from rq import cron

for job in settings.PERIODIC_JOBS:
    # Every `interval` seconds, or at the times of a `cron` expression (UTC).
    interval = job.get("interval")
    cron.register(
        import_string(job["func"]),
        job["queue"],
        interval=interval,
        cron=job.get("cron"),
        job_timeout=job.get("timeout", 300),
        ttl=job.get("ttl", max(2 * (interval or 3600), 5)),
        result_ttl=job.get("result_ttl", 60),
        failure_ttl=24 * 3600,
    )
