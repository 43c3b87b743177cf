"""RQ entry points of the costs app (declared in settings.PERIODIC_JOBS, and the upload
job the Costs page enqueues)."""

from costs import pull, services


def pull_billing() -> dict[str, str]:
    """The daily pull: the open invoice months from the BigQuery export."""
    return pull.pull_open_months()


def refresh_prices() -> int:
    """The daily price snapshot from the Cloud Billing Catalog; returns its id."""
    from costs import prices

    return prices.refresh().pk


def import_upload(import_id: int):
    """An uploaded export file too large to import during the request."""
    from costs import uploads

    record = uploads.run_queued(import_id)
    return record.status if record else "already taken"


def check_cost_alerts() -> int:
    """The daily check: budget alerts and anomalies of the open invoice months."""
    return len(services.check_alerts())
