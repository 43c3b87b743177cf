"""Synthetic rows of the standard BigQuery billing export, priced from the sandbox catalog.

Daily rows per SKU per project (days are US/Pacific, like Google's reports), with
free-tier, sustained-use and committed-use credits, one usage correction (a negation and
a re-bill) mid-month, and a tax row without project or service at month end.
Deterministic: the same platform and month always give the same rows.
"""

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from . import catalog, commitments, det
from .billing_usage import Usage, day_usage

PACIFIC = ZoneInfo("America/Los_Angeles")
# catalog unit -> (export usage.unit, base units per pricing unit, pricing_unit)
EXPORT_UNITS = {
    "s": ("seconds", 1, "second"),
    "h": ("seconds", 3600, "hour"),
    "count": ("requests", 1, "count"),
    "GiBy.s": ("byte-seconds", catalog.GIB, "gibibyte second"),
    "GiBy.h": ("byte-seconds", catalog.GIB * 3600, "gibibyte hour"),
    "GiBy.mo": ("byte-seconds", catalog.GIB * catalog.MONTH_S, "gibibyte month"),
    "GiBy": ("bytes", catalog.GIB, "gibibyte"),
    "USD": ("USD", 1, "US dollar"),
}
SUD_STEPS = (0.0, 0.1322, 0.2670, 0.4)  # N2 discount per quarter of the month: ~20% overall
TAX_RATE = 0.01
_CACHE: dict = {}


def day_bounds(day: datetime) -> tuple[datetime, datetime]:
    """UTC start/end of the US/Pacific calendar day `day` (a naive date-time)."""
    start = day.replace(tzinfo=PACIFIC)
    end = (day + timedelta(days=1)).replace(tzinfo=PACIFIC)
    return start.astimezone(UTC), end.astimezone(UTC)


def next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y + m // 12}-{m % 12 + 1:02d}"


def prev_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"


def month_rows(platform, month: str, now: datetime) -> list[dict]:
    """Rows for usage in `month` (YYYY-MM) on the days that ended before `now`."""
    y, m = int(month[:4]), int(month[5:7])
    days = [datetime(y, m, d) for d in range(1, calendar.monthrange(y, m)[1] + 1)]
    done = [d for d in days if day_bounds(d)[1] <= now]
    key = (id(platform), month, len(done))
    if key not in _CACHE:
        _CACHE[key] = _build_month(platform, month, done, complete=len(done) == len(days))
    return _CACHE[key]


def _build_month(platform, month: str, days: list, complete: bool) -> list[dict]:
    used: dict[str, float] = {}  # cumulative usage per SKU this month (tiers, free tier)
    rows = []
    for day in days:
        for env in platform.environments:
            held = commitments.held(env)
            for usage in day_usage(env, day.strftime("%Y-%m-%d")):
                rows.append(_usage_row(platform, env, day, usage, used, len(days), held))
            if held is not None:
                rows += [
                    _fee_row(platform, env, day, key, amount) for key, amount in held.fees.items()
                ]
    if len(days) >= 15:
        rows += _correction(rows, day=days[14])
    if complete and rows:
        rows.append(_tax_row(platform, month, rows))
    return rows


def _tiered_cost(sku, before: float, amount: float) -> tuple[float, float]:
    """(cost at list price, the part of it inside a free first tier)."""
    cost = free = 0.0
    tiers = list(sku.tiers) + [(float("inf"), "0")]
    for (start, price), (stop, _) in zip(tiers, tiers[1:], strict=False):
        portion = max(0.0, min(before + amount, stop) - max(before, start))
        if portion and float(price) == 0.0:
            free += portion * float(sku.price())
            cost += portion * float(sku.price())
        else:
            cost += portion * float(price)
    return cost, free


def _usage_row(
    platform, env, day: datetime, usage: Usage, used: dict, days: int, held=None
) -> dict:
    sku = catalog.BY_KEY[usage.sku]
    before = used.get(usage.sku, 0.0)
    used[usage.sku] = before + usage.amount
    cost, free = _tiered_cost(sku, before, usage.amount)
    start, end = day_bounds(day)
    last_day = day.day == calendar.monthrange(day.year, day.month)[1]
    # Late usage on the last day lands on the next invoice, as it does for real.
    invoice = (
        next_month(f"{day:%Y-%m}") if last_day and usage.sku == "net.egress" else f"{day:%Y-%m}"
    )
    row = _base_row(platform, env, sku, start, end, invoice)
    row["labels"] = [
        {"key": k, "value": v} for k, v in {**env.cost_labels, "app": usage.component}.items()
    ]
    row["system_labels"] = [{"key": k, "value": v} for k, v in usage.system_labels.items()]
    row["location"] = _location(env.region, usage)
    row["cost"] = round(cost, 6)
    row["usage"] = _usage_amounts(sku, usage.amount)
    row["credits"] = _credits(env, usage, cost, free, (day.day - 1) / days, held)
    return row


def _fee_row(platform, env, day: datetime, key: str, amount: float) -> dict:
    """A day of a commitment's fee: billed to the project, without resource labels."""
    sku = catalog.BY_KEY[key]
    start, end = day_bounds(day)
    row = _base_row(platform, env, sku, start, end, f"{day:%Y-%m}")
    row["labels"] = []
    row["system_labels"] = []
    row["location"] = {"location": env.region, "country": "US", "region": env.region, "zone": None}
    row["cost"] = round(amount * float(sku.price()), 6)
    row["usage"] = _usage_amounts(sku, amount)
    row["credits"] = []
    return row


def _base_row(platform, env, sku, start, end, invoice: str) -> dict:
    service_id, service_name = catalog.SERVICES[sku.service]
    export = end + timedelta(hours=3, minutes=int(det.unit("exp", sku.key, start) * 120))
    return {
        "billing_account_id": platform.account,
        "service": {"id": service_id, "description": service_name},
        "sku": {"id": sku.sku_id, "description": sku.description},
        "usage_start_time": start,
        "usage_end_time": end,
        "project": {
            "id": env.project,
            "number": platform.project_number(env.project),
            "name": env.project,
            "ancestry_numbers": "/720000000001/",
            "labels": [{"key": k, "value": v} for k, v in env.cost_labels.items()],
        },
        "export_time": export,
        "currency": platform.currency,
        "currency_conversion_rate": 1.0,
        "invoice": {"month": invoice.replace("-", "")},
        "cost_type": "regular",
        "adjustment_info": None,
    }


def _location(region: str, usage: Usage) -> dict:
    if usage.global_location:
        return {"location": "global", "country": None, "region": None, "zone": None}
    return {"location": region, "country": "US", "region": region, "zone": usage.zone}


def _usage_amounts(sku, amount: float) -> dict:
    unit, factor, pricing_unit = EXPORT_UNITS[sku.unit]
    return {
        "amount": round(amount * factor, 3),
        "unit": unit,
        "amount_in_pricing_units": round(amount, 6),
        "pricing_unit": pricing_unit,
    }


def _credit(kind: str, name: str, amount: float, credit_id: str = "") -> dict:
    return {
        "name": name,
        "amount": round(-amount, 6),
        "full_name": name,
        "id": credit_id,
        "type": kind,
    }


def _credits(env, usage: Usage, cost: float, free: float, month_pos: float, held) -> list[dict]:
    out = []
    if free > 0:
        out.append(_credit("FREE_TIER", "Free tier", free))
    rest = cost - free
    sku_key = usage.sku
    cud = env.committed_use_discount
    cid = f"commitments/{det.numeric_id('cud', env.project, digits=10)}"
    if held is not None:
        covered = held.cover(usage, rest) if rest > 0 else None
        if covered is not None and covered[1] > 0:
            out.append(_credit(covered[0], "Committed use discount", covered[1], cid))
            rest -= covered[1]
        out += _sud(sku_key, rest, month_pos)
    elif (
        cud
        and rest > 0
        and sku_key.split(".")[0] in ("gce", "sql", "run")
        and "requests" not in sku_key
        and "pd_" not in sku_key
    ):
        kind = (
            "COMMITTED_USAGE_DISCOUNT"
            if sku_key.startswith("gce.")
            else "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE"
        )
        out.append(_credit(kind, "Committed use discount", rest * cud, cid))
    else:
        out += _sud(sku_key, rest, month_pos)
    return out


def _sud(sku_key: str, rest: float, month_pos: float) -> list[dict]:
    """The sustained-use discount on what is left of an N2 VM's usage."""
    if not sku_key.startswith("gce.n2_") or rest <= 1e-12:
        return []
    rate = SUD_STEPS[min(int(month_pos * 4), 3)]
    if not rate:
        return []
    return [_credit("SUSTAINED_USAGE_DISCOUNT", "Sustained Usage Discount", rest * rate)]


def _correction(rows: list[dict], day: datetime) -> list[dict]:
    """A Cloud SQL usage correction issued on `day`: negate one row, re-bill it at 90%."""
    target = next((r for r in rows if r["sku"]["description"].endswith("vCPU in Americas")), None)
    if target is None:
        return []
    issued = day_bounds(day)[1] + timedelta(hours=5)
    info = {
        "id": f"adj-{det.digest('adj', target['usage_start_time'])[:12]}",
        "description": "Cloud SQL usage correction",
        "mode": "COMPLETE_NEGATION_WITH_REMATCH",
        "type": "USAGE_CORRECTION",
    }
    out = []
    for factor in (-1.0, 0.9):
        row = dict(
            target,
            cost=round(target["cost"] * factor, 6),
            export_time=issued,
            cost_type="adjustment",
            adjustment_info=info,
            credits=[],
        )
        row["usage"] = dict(
            target["usage"],
            amount=round(target["usage"]["amount"] * factor, 3),
            amount_in_pricing_units=round(target["usage"]["amount_in_pricing_units"] * factor, 6),
        )
        out.append(row)
    return out


def _tax_row(platform, month: str, rows: list[dict]) -> dict:
    net = sum(r["cost"] + sum(c["amount"] for c in r["credits"]) for r in rows)
    y, m = int(month[:4]), int(month[5:7])
    start = day_bounds(datetime(y, m, 1))[0]
    end = day_bounds(datetime(y, m, calendar.monthrange(y, m)[1]))[1]
    return {
        "billing_account_id": platform.account,
        "service": None,
        "sku": None,
        "usage_start_time": start,
        "usage_end_time": end,
        "project": None,
        "labels": [],
        "system_labels": [],
        "location": None,
        "export_time": end + timedelta(hours=12),
        "cost": round(net * TAX_RATE, 6),
        "currency": platform.currency,
        "currency_conversion_rate": 1.0,
        "usage": None,
        "credits": [],
        "invoice": {"month": f"{y}{m:02d}"},
        "cost_type": "tax",
        "adjustment_info": None,
    }


def invoice_month_rows(platform, invoice_month: str, now: datetime) -> list[dict]:
    """Rows landing on the invoice `invoice_month` (YYYYMM or YYYY-MM)."""
    month = f"{invoice_month[:4]}-{invoice_month[-2:]}"
    wanted = month.replace("-", "")
    rows = month_rows(platform, prev_month(month), now) + month_rows(platform, month, now)
    return [r for r in rows if r["invoice"]["month"] == wanted]


def table_rows(platform, now: datetime, months_back: int = 13) -> list[dict]:
    """The whole export table: usage from `months_back` months ago until now."""
    month = f"{now:%Y-%m}"
    months = [month]
    for _ in range(months_back):
        months.insert(0, prev_month(months[0]))
    return [row for mo in months for row in month_rows(platform, mo, now)]
