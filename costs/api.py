"""A month's cost figures for scripts, on the project's API (/api/v1/, token auth): the
same numbers as `cost_report --format json`, and the month's committed-use discounts as
the Costs page shows them."""

from ninja import Router
from ninja.errors import HttpError

from costs import commitments, prices, report
from costs.money import cents, to_nanos
from platform_admin.models import PlatformSettings

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


def _cents(amount) -> str | None:
    return None if amount is None else cents(to_nanos(amount))


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@router.get("/costs/months/{month}/commitments")
def month_commitments(request, month: str):
    """Invoice month YYYY-MM's committed-use discounts per environment, one line per
    machine family (resource-based) and per service's spend (spend-based), as the Costs
    page's card: fee, worth on demand, credits earned, eligible usage and sustained-use
    discount (decimal strings rounded half-up to cents; null where no price tells),
    utilisation and coverage (shares 0–1), what a smaller or an extra commitment would
    have saved, and the page's sentences."""
    if not report.is_month(month):
        raise HttpError(400, report.not_a_month(month))
    currency = PlatformSettings.load().currency
    lines = commitments.month_lines(month, prices.latest(), currency)
    return {
        "month": month,
        "currency": currency,
        "commitments": [
            {
                "environment": line.environment.slug,
                "kind": line.kind,
                "what": line.what,
                "held": line.held_as,
                "fee": _cents(line.fee),
                "worth_on_demand": _cents(line.value),
                "credits": _cents(line.credits),
                "eligible": _cents(line.eligible),
                "sustained_use_discount": _cents(line.sud),
                "utilisation": _share(line.utilisation),
                "coverage": _share(line.coverage),
                "smaller_saving": _cents(line.smaller_saving),
                "extra_saving": _cents(line.extra_saving),
                "advice": line.advice,
            }
            for line in lines
        ],
    }
