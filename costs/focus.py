"""The month as a CSV in FOCUS-style columns (the FinOps Open Cost and Usage
Specification), one line per daily rollup bucket and one per credit type of it, so that
BilledCost sums to the month's net exactly as `cost_report` gives it."""

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import orjson

from costs.bq_rows import PACIFIC
from costs.models import CostDaily
from costs.money import from_nanos
from costs.month import month_bounds
from costs.report import UNALLOCATED
from platform_admin.csv_safe import safe_cell

COLUMNS = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "ChargeCategory",
    "ChargeDescription",
    "ServiceName",
    "SkuId",
    "SkuDescription",
    "RegionId",
    "SubAccountId",
    "Tags",
    "x_Environment",
    "x_Component",
    "x_UsageQuantity",
    "x_UsageUnit",
]
CATEGORY = {"tax": "Tax", "adjustment": "Adjustment", "rounding_error": "Adjustment"}


class _Echo:
    def write(self, value):
        return value


def _iso(day, days: int = 0) -> str:
    """The start of a US/Pacific day (the billing day) as an ISO timestamp in UTC."""
    moment = datetime.combine(day + timedelta(days=days), time(0), tzinfo=PACIFIC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def lines(month: str) -> Iterator[str]:
    """The CSV text of invoice month YYYY-MM, line by line (streams: memory flat)."""
    writer = csv.writer(_Echo())  # RFC 4180 line ends: a cell holding a CR alone is quoted too
    first, last = month_bounds(month)
    period = [_iso(first), _iso(last, 1)]
    yield writer.writerow(COLUMNS)
    rows = (
        CostDaily.objects.filter(invoice_month=month)
        .select_related("environment")
        .order_by("usage_day", "environment_id", "component", "service_description", "sku_id", "id")
    )
    for b in rows.iterator(chunk_size=2000):
        charge = [_iso(b.usage_day), _iso(b.usage_day, 1)]
        common = [
            safe_cell(b.service_description),
            safe_cell(b.sku_id),
            safe_cell(b.sku_description),
            safe_cell(b.region),
            safe_cell(b.project_id),
            safe_cell(orjson.dumps(b.labels, option=orjson.OPT_SORT_KEYS).decode()),
            b.environment.slug if b.environment else UNALLOCATED,
            safe_cell(b.component),
        ]
        cost = from_nanos(b.cost_nanos)
        credits_only = not b.cost_nanos and not b.usage_amount and b.credits_by_type
        if not credits_only:  # a Cost table's credit line: its credits, no usage of 0
            yield writer.writerow(
                [
                    *period,
                    *charge,
                    _amount(cost),
                    _amount(cost),
                    _amount(cost),
                    b.currency,
                    CATEGORY.get(b.cost_type, "Usage"),
                    safe_cell(b.cost_type),
                    *common,
                    _amount(Decimal(b.usage_amount)),
                    safe_cell(b.usage_unit),
                ]
            )
        for kind, amount in sorted((b.credits_by_type or {}).items()):
            credit = Decimal(amount)
            yield writer.writerow(
                [
                    *period,
                    *charge,
                    _amount(credit),
                    _amount(credit),
                    "",
                    b.currency,
                    "Credit",
                    safe_cell(kind),
                    *common,
                    "",
                    "",
                ]
            )
