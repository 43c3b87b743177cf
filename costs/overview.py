"""The cost part of the Overview: each environment's month-to-date net against its
target, with the forecast and the status badge (the current invoice month)."""

from django.utils import timezone

from costs import month as figures
from costs.bq_rows import PACIFIC
from platform_admin.models import PlatformSettings
from platform_admin.overview import Part


def contexts(environments) -> dict[int, dict]:
    if not environments:
        return {}
    today = timezone.now().astimezone(PACIFIC).date()
    month = figures.month_figures(f"{today:%Y-%m}", today)
    scopes = {s.slug: s for s in month.scopes}
    currency = PlatformSettings.load().currency
    out = {}
    for env in environments:
        scope = scopes.get(env.slug)
        out[env.pk] = {
            "month": month.month,
            "currency": currency,
            "scope": scope,
            "has_data": month.newest_day is not None,
        }
    return out


PART = Part("Cost", "costs/_overview_part.html", contexts)
