"""A month's cost figures for scripts, on the project's API (/api/v1/, token auth): the
same numbers as `cost_report --format json`."""

from ninja import Router
from ninja.errors import HttpError

from costs import report

router = Router(tags=["costs"])


@router.get("/costs/months/{month}")
def month(request, month: str):
    """Invoice month YYYY-MM: total, per environment (and unallocated) cost, credits and
    net, and net per GCP service, as decimal strings rounded half-up to cents. A month
    without data gives zeros."""
    try:
        return report.month_report(month)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
