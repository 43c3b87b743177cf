"""One line of a BigQuery billing export (NDJSON): parsed, validated, hashed, reduced to
what the daily rollup keeps. This is the import's hot loop: keep it lean.

Amounts are parsed as Decimal from the JSON text (never through float). A row's identity
hash covers its canonical content: keys sorted, null fields left out (null = absent),
numbers normalised (1.50 = 1.5 = 1.500), so key order, whitespace and spacing of the
file do not matter.

A line in the export's standard schema (`bq_schema`, as Google writes them) is read in
one typed pass: its numbers stay JSON text, and the row encodes back to its canonical
content with the numbers' text normalised. Any other line, and any line that pass does
not accept, is read the general way: decoded by msgspec into plain values (its float
hook gets each number's text, so amounts are exact); a line msgspec refuses, or one
holding an integer -0 (which it reads as 0), is read again by the standard library's
json, whose acceptance and error messages the importer has always had. Every reading
gives the same row and the same identity; only the general one names a bad field.
"""

import hashlib
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import msgspec
import orjson

from costs import bq_schema
from costs.money import from_nanos, to_nanos

PACIFIC = ZoneInfo("America/Los_Angeles")  # Google's reports bucket days in US/Pacific
YEAR = r"(19[7-9][0-9]|2[0-9]{3})"  # an export's months: 1970-2999, ASCII digits only
INVOICE_MONTH = re.compile(YEAR + r"(0[1-9]|1[0-2])")
FIRST_YEAR = 1970
UNSPECIFIED_CREDIT = "CREDIT_TYPE_UNSPECIFIED"
_decode = msgspec.json.Decoder(float_hook=Decimal).decode
_EXACT_INT = 10**28  # integers below this normalise to themselves (Decimal's precision)
_MINUS_ZERO = re.compile(rb"-0(?![.0-9eE])")  # an integer -0, or text that looks like one
_EMPTY: dict = {}
_decode_standard = msgspec.json.Decoder(bq_schema.Row).decode
_encode_standard = msgspec.json.Encoder().encode  # declared order = sorted keys
_show = msgspec.json.Encoder(decimal_format="number").encode
_NUMBER_START = frozenset(b"-0123456789")
MAX_NANOS = 2**63 - 1  # amounts are kept as 64-bit nano-units: about 9.2 billion either way
MAX_USAGE = Decimal("1e29")  # usage amounts as NUMERIC(38, 9)


class FieldError(Exception):
    """A value the importer cannot accept: `field` is its path in the row."""

    def __init__(self, field: str, value: object, problem: str):
        super().__init__(
            f"{field}: {problem}" if value is MISSING else f"{field}: {shown(value)} {problem}"
        )


MISSING = object()  # a FieldError's value when there is none (null, or no such field)


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
    account: str  # billing_account_id ("" when the row has none)


# The export's credit types; the console's Cost table writes them in words ("Free tier",
# "Committed use discount"), which are read as these.
CREDIT_TYPES = frozenset(
    {
        "COMMITTED_USAGE_DISCOUNT",
        "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE",
        "DISCOUNT",
        "FEE_UTILIZATION_OFFSET",
        "FREE_TIER",
        "PROMOTION",
        "RESELLER_MARGIN",
        "SUBSCRIPTION_BENEFIT",
        "SUSTAINED_USAGE_DISCOUNT",
        UNSPECIFIED_CREDIT,
    }
)
_CREDIT_WORDS = {"use": "USAGE", "based": "BASE", "promotions": "PROMOTION"}


@lru_cache(maxsize=1_000)
def credit_type(name: str) -> str:
    """A credit's type as the export names it: "Committed use discount (dollar based)" ->
    COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE; a type the words do not name is kept as written."""
    if name in CREDIT_TYPES:
        return name
    words = re.findall(r"[a-z]+", name.lower())
    named = "_".join(_CREDIT_WORDS.get(word, word.upper()) for word in words)
    return named if named in CREDIT_TYPES else name


def key_digest(key: RowKey) -> bytes:
    """A rollup key's 16-byte digest (its daily bucket's `key_hash`, in hex)."""
    return hashlib.blake2b(orjson.dumps(tuple(key)), digest_size=16).digest()


def shown(value: object) -> str:
    """A value as the user wrote it, for error messages (JSON text, numbers with their
    digits, shortened)."""
    text = msgspec.json.format(_show(value), indent=0).decode()  # spaced as json.dumps
    return text if len(text) <= 60 else text[:57] + "..."


def parse(line: bytes) -> ParsedRow:
    """Parse one non-blank line; raises ValueError (bad JSON) or FieldError."""
    try:
        return _parse(line)
    except RecursionError:  # from either decoder, or the canonical walk
        raise ValueError("nested too deeply") from None


def _parse(line: bytes) -> ParsedRow:
    if b"\\u0000" in line:  # rare: a NUL escaped in a string, which may be a kept one
        return _without_nul(_general(line))
    try:
        return _standard(line)
    except (msgspec.DecodeError, FieldError, _NotStandard):
        return _general(line)


# Where each kept text of a row comes from, as a refusal names it.
_KEPT_TEXTS = {
    "project_id": "project.id",
    "service_id": "service.id",
    "service_description": "service.description",
    "sku_id": "sku.id",
    "sku_description": "sku.description",
    "cost_type": "cost_type",
    "currency": "currency",
    "region": "location.region",
    "usage_unit": "usage.unit",
}


def _without_nul(row: ParsedRow) -> ParsedRow:
    """The row, unless a text it keeps holds a NUL character, which PostgreSQL cannot
    store (then FieldError naming the first)."""
    texts = [(path, getattr(row.key, name)) for name, path in _KEPT_TEXTS.items()]
    for i, (key, value) in enumerate(row.key.labels):
        texts += [(f"labels[{i}].key", key), (f"labels[{i}].value", value)]
    texts += [(f"credits[{i}].type", kind) for i, (kind, _) in enumerate(row.credits)]
    for path, text in texts:
        if "\x00" in text:
            raise FieldError(path, text, "holds a NUL character, which cannot be stored")
    return row


class _NotStandard(Exception):
    """A value the standard reading leaves to the general one (which reads or names it)."""


def _standard(line: bytes) -> ParsedRow:
    """A line in the export's standard schema; anything else raises (see `_parse`)."""
    row = _decode_standard(line)
    cost = _number_text(row.cost)
    rate = _number_text(row.currency_conversion_rate)
    start, invoice, currency = row.usage_start_time, row.invoice, row.currency
    if cost is None or start is None or invoice is None or invoice.month is None:
        raise _NotStandard
    if currency is None or len(currency) != 3:
        raise _NotStandard
    row.cost = _normal(cost)
    row.currency_conversion_rate = rate = None if rate is None else _normal_rate(rate)
    if rate is not None and (rate[0] == "-" or rate == "0"):
        raise _NotStandard  # no conversion rate: the general reading names it
    row.cost_at_list = _normal_raw(row.cost_at_list)
    usage_amount = None
    unit = ""
    if (usage := row.usage) is not None:
        amount = _number_text(usage.amount)
        usage.amount = None if amount is None else _normal(amount)
        usage_amount = None if amount is None else Decimal(amount)
        usage.amount_in_pricing_units = _normal_raw(usage.amount_in_pricing_units)
        unit = usage.unit or ""
    if (price := row.price) is not None:
        price.effective_price = _normal_raw(price.effective_price)
        price.pricing_unit_quantity = _normal_raw(price.pricing_unit_quantity)
        price.tier_start_amount = _normal_raw(price.tier_start_amount)
    credits = []
    for credit in row.credits or ():
        amount = _number_text(credit.amount)
        if amount is None:
            raise _NotStandard
        credit.amount = _normal(amount)
        nanos = _bounded_nanos(Decimal(amount))
        if not -MAX_NANOS <= nanos <= MAX_NANOS:
            raise _NotStandard  # out of range: the general reading names it
        credits.append((credit.type or UNSPECIFIED_CREDIT, nanos))
    row_hash = hashlib.blake2b(_encode_standard(row), digest_size=16).digest()
    project = row.project or bq_schema.NO_PROJECT
    service = row.service or bq_schema.NO_NAMED
    sku = row.sku or bq_schema.NO_NAMED
    location = row.location or bq_schema.NO_LOCATION
    key = RowKey._make(
        (
            _pacific_day(start),
            _month(invoice.month),
            project.id or "",
            _standard_labels(row.labels),
            service.id or "",
            service.description or "",
            sku.id or "",
            sku.description or "",
            row.cost_type or "regular",
            currency,
            rate or "",
            location.region or location.location or "",
            unit,
        )
    )
    cost_nanos = _bounded_nanos(Decimal(cost))
    if not -MAX_NANOS <= cost_nanos <= MAX_NANOS or (
        usage_amount is not None and not -MAX_USAGE < usage_amount < MAX_USAGE
    ):
        raise _NotStandard
    return ParsedRow(row_hash, key, cost_nanos, credits, usage_amount, row.billing_account_id or "")


def _number_text(raw: msgspec.Raw | None) -> str | None:
    """A number's JSON text as written; None for null or absent; else _NotStandard."""
    if raw is None:
        return None
    text = bytes(raw)
    if text[0] in _NUMBER_START:
        return text.decode()
    if text == b"null":
        return None
    raise _NotStandard


def _normal(text: str) -> str:
    """A JSON number's normalised decimal text, as `_canonical` writes it. Without an
    exponent and within Decimal's 28 digits, that is the text itself less the zeros
    ending its fraction (JSON numbers have no leading zeros; msgspec has checked the text
    is one): "3600.0" -> "3600", "-0.0" -> "-0"."""
    if len(text) <= 28 and "e" not in text and "E" not in text:
        return text.rstrip("0").rstrip(".") if "." in text else text
    return _decimal_text(Decimal(text))


_normal_rate = lru_cache(maxsize=1_000)(_normal)  # one rate repeats on most rows


def _decimal_text(value: Decimal) -> str:
    """A number's normalised decimal text; beyond Decimal's exponents (1e9999999, which
    no amount can be and the checks refuse) its own notation."""
    try:
        return format(value.normalize(), "f")
    except ArithmeticError:  # decimal.Overflow
        return str(value)


def _normal_raw(raw: msgspec.Raw | None) -> str | None:
    text = _number_text(raw)
    return None if text is None else _normal(text)


def _standard_labels(labels: list[bq_schema.Label] | None) -> tuple[tuple[str, str], ...]:
    if not labels:
        return ()
    pairs = []
    for label in labels:
        if label.key is None:
            raise _NotStandard
        pairs.append((label.key, label.value or ""))
    return tuple(sorted(pairs))


def _general(line: bytes) -> ParsedRow:
    """Any line: read into plain values, checked field by field (errors name the field)."""
    try:
        row = _decode(line)
        row_hash = _row_hash(row)
    except msgspec.DecodeError:
        row = _strict(line)
        row_hash = _row_hash(row)
    except _IntegerZero:  # rare: most exports write no integer 0
        if _MINUS_ZERO.search(line):
            row = _strict(line)
        row_hash = _row_hash(row, zero_seen=True)
    if row.__class__ is not dict:
        raise FieldError("(row)", row, "is not a JSON object")
    key = _key(row)
    account = _text(row, "billing_account_id")
    return ParsedRow(row_hash, key, _number(row, "cost"), _credits(row), _usage(row), account)


class _IntegerZero(Exception):
    """msgspec read an integer 0, which may have been written -0 (read again strictly)."""


def _strict(line: bytes):
    """The standard library's reading of a line: every number a Decimal, and NaN or
    Infinity (which it would read, but which are not JSON) refused."""
    return json.loads(line, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constant)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _canonical_number(value: Decimal | int) -> str:
    if value.__class__ is int and -_EXACT_INT < value < _EXACT_INT:
        return str(value)
    return _decimal_text(Decimal(value))  # rounded to the context's 28 digits


def _canonical(value, zero_seen: bool = False):
    """The value as its identity sees it: no null fields at any depth, every number
    (integers too) as its normalised decimal text. An integer 0 raises _IntegerZero
    unless the line was `zero_seen` and found to hold no -0."""
    kind = value.__class__
    if kind is dict:
        return {
            k: v if v.__class__ is str else _canonical(v, zero_seen)
            for k, v in value.items()
            if v is not None
        }
    if kind is list:
        return [v if v.__class__ is str else _canonical(v, zero_seen) for v in value]
    if kind is Decimal:
        return _decimal_text(value)
    if kind is int:
        if value or zero_seen:
            return _canonical_number(value)
        raise _IntegerZero
    return value


def _row_hash(row, zero_seen: bool = False) -> bytes:
    try:
        canonical = orjson.dumps(_canonical(row, zero_seen), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # the only text JSON can hold that orjson cannot write
        raise ValueError(
            "a string holds a lone UTF-16 surrogate (\\ud800 to \\udfff), which is not text"
        ) from None
    return hashlib.blake2b(canonical, digest_size=16).digest()


def _is_number(value) -> bool:
    kind = value.__class__
    return kind is Decimal or kind is int


def _key(row: dict) -> RowKey:
    # Positional and in the order the checks used to run (the first bad field is named).
    service = _record(row, "service")
    sku = _record(row, "sku")
    location = _record(row, "location")
    usage = _record(row, "usage")
    rate = row.get("currency_conversion_rate")
    if rate is not None and not _is_number(rate):
        raise FieldError("currency_conversion_rate", rate, "is not a number")
    if rate is not None and rate <= 0:
        raise FieldError("currency_conversion_rate", rate, "is not a conversion rate (above 0)")
    return RowKey._make(
        (
            _usage_day(row.get("usage_start_time")),
            _invoice_month(_record(row, "invoice").get("month")),
            _text(_record(row, "project"), "id", "project."),
            _labels(row.get("labels")),
            _text(service, "id", "service."),
            _text(service, "description", "service."),
            _text(sku, "id", "sku."),
            _text(sku, "description", "sku."),
            _text(row, "cost_type") or "regular",
            _currency(row.get("currency")),
            "" if rate is None else _rate(rate),
            _text(location, "region", "location.") or _text(location, "location", "location."),
            _text(usage, "unit", "usage."),
        )
    )


def _rate(value: Decimal | int) -> str:
    """A conversion rate's canonical text (cached: one rate repeats on most rows; not
    zero, as -0 and 0 are equal keys with different texts)."""
    return _canonical_number(value) if not value else _cached_rate(value)


_cached_rate = lru_cache(maxsize=1_000)(_canonical_number)


def _record(row: dict, field: str) -> dict:
    value = row.get(field)
    if value is None:
        return _EMPTY
    if value.__class__ is not dict:
        raise FieldError(field, value, "is not a record")
    return value


def _text(record: dict, field: str, prefix: str = "") -> str:
    value = record.get(field)
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    raise FieldError(prefix + field, value, "is not a string")


def _number(row: dict, field: str) -> int:
    value = row.get(field)
    if not _is_number(value):
        if value is None:
            raise FieldError(field, MISSING, "is missing")
        raise FieldError(field, value, "is not a number")
    return _nanos(value, field)


def _nanos(value: Decimal | int, field: str) -> int:
    nanos = _bounded_nanos(value)
    if -MAX_NANOS <= nanos <= MAX_NANOS:
        return nanos
    raise FieldError(
        field, value, f"is more than an amount can be (at most {_MAX_AMOUNT} either way)"
    )


_MAX_AMOUNT = f"{from_nanos(MAX_NANOS):,}"


def _bounded_nanos(value: Decimal | int) -> int:
    """to_nanos, or past MAX_NANOS for an amount beyond Decimal's exponents (1e999999)."""
    try:
        return to_nanos(value)
    except ArithmeticError:  # decimal.Overflow
        return MAX_NANOS + 1


def _currency(value) -> str:
    if value.__class__ is not str or len(value) != 3:
        raise FieldError("currency", value, "is not a currency code")
    return value


def _usage_day(value) -> date:
    """The US/Pacific day of a TIMESTAMP such as "2026-10-01 07:00:00 UTC"."""
    if value.__class__ is not str:
        raise FieldError("usage_start_time", value, "is not a timestamp")
    return _pacific_day(value)


@lru_cache(maxsize=100_000)  # hourly windows repeat on every row of the hour
def _pacific_day(value: str) -> date:
    text = value[:-4] + "+00:00" if value.endswith(" UTC") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError("usage_start_time", value, "is not a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # BigQuery TIMESTAMPs are UTC
    try:
        day = moment.astimezone(PACIFIC).date()
    except OverflowError:  # the first or last hours of year 1 or 9999
        raise FieldError("usage_start_time", value, "is out of the range of days") from None
    if day.year < FIRST_YEAR:
        raise FieldError("usage_start_time", value, "is before 1970, older than any export")
    return day


def _invoice_month(value) -> str:
    if value.__class__ is not str:
        raise FieldError("invoice.month", value, 'is not a month like "202610" (a string)')
    return _month(value)


@lru_cache(maxsize=1_000)
def _month(value: str) -> str:
    match = INVOICE_MONTH.fullmatch(value)
    if match is None:
        raise FieldError("invoice.month", value, "is not a month like 202610")
    return f"{match[1]}-{match[2]}"


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
        if not _is_number(amount):
            raise FieldError(f"credits[{i}].amount", amount, "is not a number")
        # Older exports name credits without a type; any type string is accepted.
        kind = _text(credit, "type", f"credits[{i}].") or UNSPECIFIED_CREDIT
        out.append((kind, _nanos(amount, f"credits[{i}].amount")))
    return out


def _usage(row: dict) -> Decimal | None:
    amount = _record(row, "usage").get("amount")
    if amount is None:
        return None
    if amount.__class__ is int:
        amount = Decimal(amount)
    elif amount.__class__ is not Decimal:
        raise FieldError("usage.amount", amount, "is not a number")
    if -MAX_USAGE < amount < MAX_USAGE:
        return amount
    raise FieldError(
        "usage.amount", amount, "is more than a usage amount can be (less than 1e29 either way)"
    )
