"""One line of a BigQuery billing export (NDJSON): parsed, validated, hashed, reduced to
what the daily rollup keeps. This is the import's hot loop: keep it lean.

Amounts are parsed as Decimal from the JSON text (never through float). A row's identity
hash covers its canonical content: keys sorted, null fields left out (null = absent),
numbers normalised (1.50 = 1.5 = 1.500), so key order, whitespace and spacing of the
file do not matter.
"""

import hashlib
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

import orjson

from costs.money import to_nanos

PACIFIC = ZoneInfo("America/Los_Angeles")  # Google's reports bucket days in US/Pacific
INVOICE_MONTH = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")
UNSPECIFIED_CREDIT = "CREDIT_TYPE_UNSPECIFIED"
_EMPTY: dict = {}
_days: dict[str, date] = {}
_months: dict[str, str] = {}


class FieldError(Exception):
    """A value the importer cannot accept: `field` is its path in the row."""

    def __init__(self, field: str, value: object, problem: str):
        super().__init__(f"{field}: {shown(value)} {problem}")


class RowKey(NamedTuple):
    """What a daily rollup bucket is keyed by; environment and component derive from it."""

    usage_day: date
    invoice_month: str
    project_id: str
    labels: tuple[tuple[str, str], ...]
    service_id: str
    service_description: str
    sku_id: str
    sku_description: str
    cost_type: str
    currency: str
    currency_conversion_rate: str
    region: str
    usage_unit: str


class ParsedRow(NamedTuple):
    row_hash: bytes
    key: RowKey
    cost_nanos: int
    credits: list[tuple[str, int]]
    usage_amount: Decimal | None


def shown(value: object) -> str:
    """A value as the user wrote it, for error messages (JSON text, shortened)."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def parse(line: bytes) -> ParsedRow:
    """Parse one non-blank line; raises ValueError (bad JSON) or FieldError."""
    row = json.loads(line, parse_float=Decimal, parse_int=Decimal)
    if row.__class__ is not dict:
        raise FieldError("(row)", row, "is not a JSON object")
    return ParsedRow(
        _row_hash(row, line), _key(row), _number(row, "cost"), _credits(row), _usage(row)
    )


def _canonical_number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _prune(value):
    """The value without null fields, at any depth."""
    if value.__class__ is dict:
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if value.__class__ is list:
        return [_prune(v) for v in value]
    return value


def _row_hash(row: dict, line: bytes) -> bytes:
    # Pruning costs as much as parsing; most lines have no null to prune.
    content = _prune(row) if b"null" in line else row
    canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=_canonical_number)
    return hashlib.blake2b(canonical, digest_size=16).digest()


def _key(row: dict) -> RowKey:
    service = _record(row, "service")
    sku = _record(row, "sku")
    location = _record(row, "location")
    usage = _record(row, "usage")
    rate = row.get("currency_conversion_rate")
    if rate is not None and rate.__class__ is not Decimal:
        raise FieldError("currency_conversion_rate", rate, "is not a number")
    return RowKey(
        usage_day=_usage_day(row.get("usage_start_time")),
        invoice_month=_invoice_month(_record(row, "invoice").get("month")),
        project_id=_text(_record(row, "project"), "id", "project."),
        labels=_labels(row.get("labels")),
        service_id=_text(service, "id", "service."),
        service_description=_text(service, "description", "service."),
        sku_id=_text(sku, "id", "sku."),
        sku_description=_text(sku, "description", "sku."),
        cost_type=_text(row, "cost_type") or "regular",
        currency=_currency(row.get("currency")),
        currency_conversion_rate="" if rate is None else _canonical_number(rate),
        region=_text(location, "region", "location.") or _text(location, "location", "location."),
        usage_unit=_text(usage, "unit", "usage."),
    )


def _record(row: dict, field: str) -> dict:
    value = row.get(field)
    if value is None:
        return _EMPTY
    if value.__class__ is not dict:
        raise FieldError(field, value, "is not a record")
    return value


def _text(record: dict, field: str, prefix: str = "") -> str:
    value = record.get(field)
    if value is None:
        return ""
    if value.__class__ is not str:
        raise FieldError(prefix + field, value, "is not a string")
    return value


def _number(row: dict, field: str) -> int:
    value = row.get(field)
    if value.__class__ is not Decimal:
        raise FieldError(field, value, "is missing" if value is None else "is not a number")
    return to_nanos(value)


def _currency(value) -> str:
    if value.__class__ is not str or len(value) != 3:
        raise FieldError("currency", value, "is not a currency code")
    return value


def _usage_day(value) -> date:
    """The US/Pacific day of a TIMESTAMP such as "2026-10-01 07:00:00 UTC" (cached:
    hourly windows repeat on every row of the hour)."""
    day = _days.get(value)
    if day is None:
        day = _days[value] = _parse_day(value)
        if len(_days) > 100_000:
            _days.clear()
    return day


def _parse_day(value) -> date:
    if value.__class__ is not str:
        raise FieldError("usage_start_time", value, "is not a timestamp")
    text = value[:-4] + "+00:00" if value.endswith(" UTC") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError("usage_start_time", value, "is not a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # BigQuery TIMESTAMPs are UTC
    return moment.astimezone(PACIFIC).date()


def _invoice_month(value) -> str:
    month = _months.get(value)
    if month is None:
        match = INVOICE_MONTH.match(value) if value.__class__ is str else None
        if match is None:
            raise FieldError("invoice.month", value, "is not a month like 202610")
        month = _months[value] = f"{match[1]}-{match[2]}"
    return month


def _labels(value) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    if value.__class__ is not list:
        raise FieldError("labels", value, "is not a list of {key, value}")
    pairs = []
    for i, label in enumerate(value):
        if label.__class__ is not dict or label.get("key").__class__ is not str:
            raise FieldError(f"labels[{i}]", label, "is not a {key, value} label")
        pairs.append((label["key"], _text(label, "value", f"labels[{i}].")))
    return tuple(sorted(pairs))


def _credits(row: dict) -> list[tuple[str, int]]:
    value = row.get("credits")
    if not value:
        return []
    if value.__class__ is not list:
        raise FieldError("credits", value, "is not a list of credits")
    out = []
    for i, credit in enumerate(value):
        if credit.__class__ is not dict:
            raise FieldError(f"credits[{i}]", credit, "is not a credit record")
        amount = credit.get("amount")
        if amount.__class__ is not Decimal:
            raise FieldError(f"credits[{i}].amount", amount, "is not a number")
        # Older exports name credits without a type; any type string is accepted.
        kind = _text(credit, "type", f"credits[{i}].") or UNSPECIFIED_CREDIT
        out.append((kind, to_nanos(amount)))
    return out


def _usage(row: dict) -> Decimal | None:
    amount = _record(row, "usage").get("amount")
    if amount is not None and amount.__class__ is not Decimal:
        raise FieldError("usage.amount", amount, "is not a number")
    return amount
