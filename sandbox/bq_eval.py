"""Running a recognised query (bq_sql.Query) over the synthetic billing export rows."""

import json
import math
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from . import billing_rows
from .bq_sql import Query, invalid_query

NANO = Decimal("1e-9")  # NUMERIC's scale
EXPORT_SCHEMA_SPEC = [
    ("billing_account_id", "STRING"),
    ("service", [("id", "STRING"), ("description", "STRING")]),
    ("sku", [("id", "STRING"), ("description", "STRING")]),
    ("usage_start_time", "TIMESTAMP"),
    ("usage_end_time", "TIMESTAMP"),
    (
        "project",
        [
            ("id", "STRING"),
            ("number", "STRING"),
            ("name", "STRING"),
            ("labels", "KV"),
            ("ancestry_numbers", "STRING"),
        ],
    ),
    ("labels", "KV"),
    ("system_labels", "KV"),
    (
        "location",
        [("location", "STRING"), ("country", "STRING"), ("region", "STRING"), ("zone", "STRING")],
    ),
    ("export_time", "TIMESTAMP"),
    ("cost", "FLOAT"),
    ("currency", "STRING"),
    ("currency_conversion_rate", "FLOAT"),
    (
        "usage",
        [
            ("amount", "FLOAT"),
            ("unit", "STRING"),
            ("amount_in_pricing_units", "FLOAT"),
            ("pricing_unit", "STRING"),
        ],
    ),
    ("credits", "CREDITS"),
    ("invoice", [("month", "STRING")]),
    ("cost_type", "STRING"),
    (
        "adjustment_info",
        [("id", "STRING"), ("description", "STRING"), ("mode", "STRING"), ("type", "STRING")],
    ),
]


def _field(name: str, spec) -> dict:
    if spec == "KV":
        return {
            "name": name,
            "type": "RECORD",
            "mode": "REPEATED",
            "fields": [_field("key", "STRING"), _field("value", "STRING")],
        }
    if spec == "CREDITS":
        subs = [
            ("name", "STRING"),
            ("amount", "FLOAT"),
            ("full_name", "STRING"),
            ("id", "STRING"),
            ("type", "STRING"),
        ]
        return {
            "name": name,
            "type": "RECORD",
            "mode": "REPEATED",
            "fields": [_field(n, t) for n, t in subs],
        }
    if isinstance(spec, list):
        return {
            "name": name,
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [_field(n, t) for n, t in spec],
        }
    return {"name": name, "type": spec, "mode": "NULLABLE"}


EXPORT_SCHEMA = [_field(n, s) for n, s in EXPORT_SCHEMA_SPEC]


def get_path(row: dict, path: str):
    value = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _subject_value(row: dict, credit: dict | None, subject: str):
    if subject.startswith("credit."):
        return credit.get(subject[7:]) if credit else None
    if subject.startswith("date:"):
        _, path, tz = subject.split(":", 2)
        ts = get_path(row, path)
        return ts.astimezone(ZoneInfo(tz)).date().isoformat() if ts else None
    return get_path(row, subject)


def _matches(cond, value) -> bool:
    op, want = cond.op, cond.value
    if op == "is null":
        return value is None
    if op == "is not null":
        return value is not None
    if value is None:
        return False
    if op in ("in", "not in"):
        return (value in want) == (op == "in")
    try:
        return {
            "=": value == want,
            "!=": value != want,
            ">": value > want,
            ">=": value >= want,
            "<": value < want,
            "<=": value <= want,
        }[op]
    except TypeError as exc:
        raise invalid_query(f"Cannot compare {value!r} with {want!r}.") from exc


def source_rows(platform, query: Query, now: datetime) -> list[dict]:
    """The table, narrowed early when the query pins one invoice month (it usually does)."""
    for cond in query.conditions:
        if cond.subject == "invoice.month" and cond.op == "=" and isinstance(cond.value, str):
            return billing_rows.invoice_month_rows(platform, cond.value, now)
    return billing_rows.table_rows(platform, now)


def _expand(rows: list[dict], query: Query):
    for row in rows:
        if not query.unnest:
            yield row, None
        elif row["credits"]:
            for credit in row["credits"]:
                yield row, credit
        elif query.unnest == "left":
            yield row, None


def run(platform, query: Query, now: datetime) -> tuple[list[dict], list]:
    """(schema fields, rows). Raw rows are dicts; projected rows are lists of values."""
    wanted_account = platform.account.replace("-", "_")
    if query.account.upper() != wanted_account.upper():
        raise invalid_query(
            f"Not found: Table gcp_billing_export_v1_{query.account} "
            f"(the sandbox's billing account is {wanted_account})"
        )
    pairs = [
        (r, c)
        for r, c in _expand(source_rows(platform, query, now), query)
        if all(_matches(k, _subject_value(r, c, k.subject)) for k in query.conditions)
    ]
    if not query.columns:
        rows = [r for r, _ in pairs]
        rows = _order_raw(rows, query.order)
        return EXPORT_SCHEMA, rows[: query.limit] if query.limit is not None else rows
    schema = [{"name": c.name, "type": c.type, "mode": "NULLABLE"} for c in query.columns]
    out = (
        _grouped(pairs, query)
        if query.grouped
        else [[_dimension(c, r, cr) for c in query.columns] for r, cr in pairs]
    )
    out = _order_projected(out, query)
    return schema, out[: query.limit] if query.limit is not None else out


def _dimension(col, row: dict, credit: dict | None):
    if col.kind == "path":
        return get_path(row, col.arg)
    if col.kind == "first_of":  # COALESCE(NULLIF(a, ''), b)
        return get_path(row, col.arg[0]) or get_path(row, col.arg[1])
    if col.kind == "date":
        return _subject_value(row, credit, f"date:{col.arg[0]}:{col.arg[1]}")
    if col.kind == "json":
        return json.dumps(get_path(row, col.arg) or [], separators=(",", ":"))
    if col.kind == "credit_field":
        return credit.get(col.arg) if credit else None
    raise invalid_query(f"{col.name} is not a grouping column")


def _credit_sum(row: dict, types, exact: bool = False):
    total = Decimal(0) if exact else 0.0
    for c in row["credits"]:
        if types is None or (c["type"] in types[1]) == (types[0] == "in"):
            total += _numeric(c["amount"]) if exact else c["amount"]
    return total


def _numeric(value: float) -> Decimal:
    """CAST(FLOAT64 AS NUMERIC): 9 decimals, halves away from zero (the export writes
    each float as its shortest repr, which is what the cast starts from here)."""
    return Decimal(repr(value)).quantize(NANO, ROUND_HALF_UP)


def _measure(col, row: dict, credit: dict | None):
    """A row's part of an aggregate; exact (Decimal, each amount cast) when NUMERIC."""
    exact = col.numeric
    if col.kind == "sum":
        value = get_path(row, col.arg) or 0.0
        return _numeric(value) if exact else value
    if col.kind == "credits":
        return _credit_sum(row, col.arg, exact)
    if col.kind == "net":
        cost = _numeric(row["cost"]) if exact else row["cost"]
        return cost + _credit_sum(row, col.arg, exact)
    if col.kind == "sum_credit":
        amount = credit["amount"] if credit else 0.0
        return _numeric(amount) if exact else amount
    return 1  # count


def _grouped(pairs: list, query: Query) -> list[list]:
    groups: dict[tuple, dict] = {}
    dims = [c for c in query.columns if not c.aggregate]
    for row, credit in pairs:
        key = tuple(_dimension(c, row, credit) for c in dims)
        acc = groups.setdefault(key, {c.name: [] for c in query.columns if c.aggregate})
        for c in query.columns:
            if c.kind == "any":
                acc[c.name].append(get_path(row, c.arg[1]))
            elif c.aggregate:
                acc[c.name].append(_measure(c, row, credit))
    out = []
    for key, acc in groups.items():
        by_dim = dict(zip((c.name for c in dims), key, strict=True))
        out.append(
            [by_dim[c.name] if not c.aggregate else _finish(c, acc[c.name]) for c in query.columns]
        )
    return out


def _finish(col, values: list):
    if col.kind == "any":
        present = [v for v in values if v is not None]
        if not present:
            return None
        return {"max": max, "min": min}.get(col.arg[0], lambda vs: vs[0])(present)
    if col.kind == "count":
        return len(values)
    if col.numeric:
        return sum(values, Decimal(0)).quantize(NANO)
    return math.fsum(values)


def _sort_key(value):
    # NULLs first, as BigQuery sorts them ascending.
    return (value is not None, value if value is not None else 0)


def _order_projected(rows: list[list], query: Query) -> list[list]:
    names = [c.name for c in query.columns]
    order = query.order or [
        (n, False) for n, c in zip(names, query.columns, strict=True) if not c.aggregate
    ]
    for key, desc in reversed(order):
        if key in names:
            i = names.index(key)
            rows.sort(key=lambda r, i=i: _sort_key(r[i]), reverse=desc)
    return rows


def _order_raw(rows: list[dict], order: list) -> list[dict]:
    for key, desc in reversed(order):
        rows = sorted(rows, key=lambda r, k=key: _sort_key(get_path(r, k)), reverse=desc)
    return rows
