"""Settings for the test RQ worker: the project's, with a quick reconciler."""

from platform_admin.settings import *  # noqa: F403

DEPLOYMENTS_RECONCILE_SECONDS = 2
DEPLOYMENTS_OVERDUE_GRACE_SECONDS = 2
# The sandbox's VM answers at once after a reset; an unhealthy version never does.
VM_HEALTH_ATTEMPTS = 2
VM_HEALTH_INTERVAL_SECONDS = 0.1
