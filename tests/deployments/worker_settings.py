"""Settings for the test RQ worker and cron processes: the project's, with quick VM probes."""

from platform_admin.settings import *  # noqa: F403

# The sandbox's VM answers at once after a reset; an unhealthy version never does.
VM_HEALTH_ATTEMPTS = 2
VM_HEALTH_INTERVAL_SECONDS = 0.1
DEPLOYMENTS_JOB_POLL_SECONDS = 0.3
SITE_VERIFY_ATTEMPTS = 2
SITE_VERIFY_INTERVAL_SECONDS = 0.1
# Crashed passes are tried again after 0.25, 0.5, 1 and 2 s (production: 2, 4, 8, 16 s).
DEPLOYMENTS_CRASH_BACKOFF_SECONDS = 0.25
# The engine's processes only: health sampling would add its own Monitoring reads to the
# sandbox's request log, which the engine tests count (tests/monitoring samples by hand).
PERIODIC_JOBS = [job for job in PERIODIC_JOBS if job["queue"] == "deploys"]  # noqa: F405
