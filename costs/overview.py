"""The cost part of the Overview: each environment's monthly target (month-to-date actuals
come with the billing import work)."""

from platform_admin.models import PlatformSettings
from platform_admin.overview import Part


def contexts(environments) -> dict[int, dict]:
    currency = PlatformSettings.load().currency if environments else ""
    return {
        env.pk: {"target": env.monthly_target, "currency": currency, "actual": None}
        for env in environments
    }


PART = Part("Cost", "costs/_overview_part.html", contexts)
