"""Settings for the test RQ worker: the project's, with a quick reconciler."""

from platform_admin.settings import *  # noqa: F403

DEPLOYMENTS_RECONCILE_SECONDS = 2
DEPLOYMENTS_OVERDUE_GRACE_SECONDS = 2
