"""Recognising the SQL shapes the sandbox's BigQuery answers (see README.md).

This is not a SQL engine: it splits a query into its top-level clauses and classifies
each select item and WHERE condition against a short list of known forms. Anything
else is refused with a message that says what is supported.
"""

import re
from dataclasses import dataclass, field

from .errors import ApiError

KEYWORDS = ("SELECT", "FROM", "WHERE", "GROUP BY", "HAVING", "ORDER BY", "LIMIT")
TABLE = re.compile(r"`?([\w-]+)\.([\w-]+)\.gcp_billing_export(?:_resource)?_v1_(\w+)`?", re.I)
UNNEST = re.compile(
    r"(,|CROSS\s+JOIN|LEFT\s+JOIN)\s*UNNEST\s*\(\s*credits\s*\)\s*(?:AS\s+)?(\w+)", re.I
)
HELP = (
    "The sandbox BigQuery recognises `SELECT * FROM <export table> [WHERE ...]` and the "
    "daily rollup shapes documented in sandbox/README.md."
)
STRING_PATHS = {
    "billing_account_id",
    "service.id",
    "service.description",
    "sku.id",
    "sku.description",
    "project.id",
    "project.name",
    "project.number",
    "location.location",
    "location.region",
    "location.zone",
    "location.country",
    "invoice.month",
    "currency",
    "cost_type",
    "usage.unit",
    "usage.pricing_unit",
    "adjustment_info.type",
    "adjustment_info.id",
}
FLOAT_PATHS = {"cost", "usage.amount", "usage.amount_in_pricing_units", "currency_conversion_rate"}
TIME_PATHS = {"usage_start_time", "usage_end_time", "export_time", "_partitiontime"}
CREDIT_FIELDS = {"type", "name", "id", "full_name", "amount"}


def invalid_query(message: str) -> ApiError:
    return ApiError(400, message, reason="invalidQuery")


@dataclass
class Column:
    """One select item: `kind` says how to compute it, `arg` what from."""

    name: str
    kind: str  # path | date | json | credit_field | sum | credits | net | count | any
    arg: object = None
    type: str = "STRING"
    numeric: bool = False

    @property
    def aggregate(self) -> bool:
        return self.kind in ("sum", "credits", "net", "count", "any", "sum_credit")


@dataclass
class Condition:
    subject: str  # a path, "date:<tz>", or "credit.<field>"
    op: str
    value: object


@dataclass
class Query:
    columns: list = field(default_factory=list)  # empty = SELECT *
    conditions: list = field(default_factory=list)
    unnest: str = ""  # "", "inner" or "left"
    credit_alias: str = ""
    grouped: bool = False
    order: list = field(default_factory=list)  # (column name or path, descending)
    limit: int | None = None
    account: str = ""


def _top_level(text: str):
    """Indices of `text` outside parentheses and quotes: where clauses and lists split."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif depth == 0:
            yield i


def split_clauses(sql: str) -> dict[str, str]:
    """Top-level clauses (outside parentheses and quotes) by keyword."""
    positions = []
    upper = sql.upper()
    for i in _top_level(sql):
        if i and sql[i - 1].isalnum():
            continue
        for kw in KEYWORDS:
            if re.match(kw.replace(" ", r"\s+") + r"\b", upper[i:]):
                positions.append((i, kw))
                break
    clauses = {}
    for n, (pos, kw) in enumerate(positions):
        end = positions[n + 1][0] if n + 1 < len(positions) else len(sql)
        body = sql[pos:end]
        clauses[kw] = re.sub(r"^" + kw.replace(" ", r"\s+"), "", body, flags=re.I).strip()
    return clauses


def split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` (',' or 'AND') outside parentheses and quotes."""
    pattern = re.compile(r"\s+AND\s+", re.I) if sep == "AND" else re.compile(",")
    parts, start = [], 0
    for i in _top_level(text):
        if i < start:
            continue  # inside a separator already consumed
        m = pattern.match(text, i)
        if m:
            parts.append(text[start:i].strip())
            start = m.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", " ", sql)
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").strip()


def parse(sql: str, params: dict) -> Query:
    from .bq_terms import parse_column, parse_condition, parse_order  # keeps modules small

    clauses = split_clauses(_strip_comments(sql))
    if "SELECT" not in clauses or "FROM" not in clauses or "HAVING" in clauses:
        raise invalid_query(HELP)
    query = Query()
    _parse_from(clauses["FROM"], query)
    alias = _table_alias(clauses["FROM"])
    items = split_top(_unalias(clauses["SELECT"], alias), ",")
    if items != ["*"]:
        query.columns = [parse_column(item, query, n) for n, item in enumerate(items)]
    where = clauses.get("WHERE")
    if where:
        query.conditions = [
            parse_condition(c, query, params) for c in split_top(_unalias(where, alias), "AND")
        ]
    query.grouped = "GROUP BY" in clauses or any(c.aggregate for c in query.columns)
    if query.grouped and (
        not query.columns
        or query.unnest == ""
        and any(c.kind == "credit_field" for c in query.columns)
    ):
        raise invalid_query("GROUP BY needs named select items. " + HELP)
    if "ORDER BY" in clauses:
        query.order = parse_order(_unalias(clauses["ORDER BY"], alias), query)
    if "LIMIT" in clauses:
        query.limit = _limit(clauses["LIMIT"])
    return query


def _parse_from(text: str, query: Query) -> None:
    m = TABLE.search(text)
    if not m:
        raise invalid_query(
            "Only the billing export table "
            "`PROJECT.DATASET.gcp_billing_export_v1_<ACCOUNT>` exists here."
        )
    query.account = m[3]
    u = UNNEST.search(text)
    if u:
        query.unnest = "left" if u[1].upper().startswith("LEFT") else "inner"
        query.credit_alias = u[2]


def _table_alias(text: str) -> str:
    rest = text[TABLE.search(text).end() :]
    m = re.match(r"\s*(?:AS\s+)?(\w+)", rest, re.I)
    if m and m[1].upper() not in ("CROSS", "LEFT", "INNER", "JOIN", "UNNEST"):
        return m[1]
    return ""


def _unalias(text: str, alias: str) -> str:
    return re.sub(rf"\b{alias}\.", "", text) if alias else text


def _limit(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise invalid_query(f"LIMIT must be a number, got {text!r}.") from exc
