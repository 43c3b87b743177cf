"""The figures canary analysis judges: each revision's requests, 5xx and P95 over a window.

`deployments` asks this one function; the verdict rules stay with the rollout engine
(`deployments/analysis.py`).
"""

from datetime import datetime

from platform_admin import gcp_monitoring
from platform_admin.gcp_monitoring import RevisionMetrics
from platform_admin.models import Environment

NO_REQUESTS = RevisionMetrics(requests=0, errors=0, p95_ms=None, instance_seconds=0.0)


def revision_figures(
    environment: Environment, revisions: dict[str, list[str]], start: datetime, end: datetime
) -> dict[str, dict[str, RevisionMetrics]]:
    """{service: {revision: figures}} over [start, end] for the named revisions.

    Three Cloud Monitoring queries for all the services together (counts, latencies and
    billable instance time, grouped by service and revision) give every revision's
    figures over the same window; a revision that served nothing has zero requests.
    """
    figures = gcp_monitoring.services_metrics(
        environment.gcp_project, list(revisions), start, end, instance_time=True
    )
    return {
        service: {rev: figures.get(service, {}).get(rev, NO_REQUESTS) for rev in names if rev}
        for service, names in revisions.items()
    }
