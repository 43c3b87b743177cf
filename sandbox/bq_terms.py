"""Classifying select items, WHERE conditions and ORDER BY items (see bq_sql.py)."""

import re
from datetime import UTC, datetime

from .bq_sql import (
    CREDIT_FIELDS,
    FLOAT_PATHS,
    HELP,
    STRING_PATHS,
    TIME_PATHS,
    Column,
    Condition,
    Query,
    invalid_query,
)

ALL_PATHS = STRING_PATHS | FLOAT_PATHS | TIME_PATHS
JSON_PATHS = {"labels", "project.labels", "system_labels"}
LITERAL = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def _squash(expr: str) -> str:
    """Lower-case outside quotes, no spaces next to brackets/commas: easy to match."""
    parts = re.split(r"('[^']*'|\"[^\"]*\")", expr)
    out = "".join(p if p[:1] in "'\"" else p.lower() for p in parts)
    out = re.sub(r"\s*([(),])\s*", r"\1", out)
    return re.sub(r"\s+", " ", out).strip()


def _literals(text: str) -> list[str]:
    return [a or b for a, b in LITERAL.findall(text)]


def _time_subject(e: str) -> tuple[str, str] | None:
    """(path, timezone) of DATE(path[, 'tz']) or the _PARTITIONDATE pseudo-column."""
    if e == "_partitiondate":
        return "export_time", "UTC"
    m = re.fullmatch(r"date\(([\w.]+)(?:,['\"]([^'\"]+)['\"])?\)", e)
    if m and m[1] in TIME_PATHS:
        return ("export_time" if m[1] == "_partitiontime" else m[1]), m[2] or "UTC"
    return None


def _credit_types(expr: str) -> tuple[str, list[str]] | None:
    m = re.search(r"\btype\s*(!=|<>|=|not in|in)\s*(\(.*?\)|'[^']*'|\"[^\"]*\")", expr, re.I)
    if not m:
        return None
    negate = m[1].lower() in ("!=", "<>", "not in")
    return ("not in" if negate else "in"), _literals(m[2])


def parse_column(item: str, query: Query, n: int) -> Column:
    m = re.match(r"^(.*?)\s+AS\s+(\w+)$", item, re.I | re.S)
    expr, alias = (m[1], m[2]) if m else (item, "")
    e = _squash(expr)
    numeric = False
    cast = re.fullmatch(r"cast\((.*)\bas (?:big)?numeric\)", e)
    if cast:
        e, numeric = cast[1], True
    # Each row's amount cast before it is summed (Google's example queries):
    # SUM(CAST(cost AS NUMERIC)), SUM(CAST(c.amount AS NUMERIC)) in a credits subquery.
    uncast = re.sub(r"cast\(([\w.]+) as (?:big)?numeric\)", r"\1", e)
    if uncast != e and e.startswith(("sum(", "ifnull(")):
        e, numeric = uncast, True
    col = _classify(e, expr, query)
    if col is None:
        raise invalid_query(f"Unsupported select item {item.strip()!r}. {HELP}")
    col.name = alias or (e.split(".")[-1] if col.kind == "path" else f"f{n}_")
    if numeric:
        col.numeric, col.type = True, "NUMERIC"
    return col


def _classify(e: str, original: str, query: Query) -> Column | None:
    ca = query.credit_alias
    if e in ("count(*)", "count(1)"):
        return Column("", "count", type="INTEGER")
    if "unnest(credits)" in e:
        kind = "net" if "sum(cost)" in e else "credits"
        return Column("", kind, _credit_types(original), type="FLOAT")
    m = re.fullmatch(r"sum\(([\w.]+)\)", e)
    if m and m[1] in FLOAT_PATHS:
        return Column("", "sum", m[1], type="FLOAT")
    if m and ca and m[1] == f"{ca}.amount":
        return Column("", "sum_credit", type="FLOAT")
    m = re.fullmatch(r"coalesce\(nullif\(([\w.]+),''\),([\w.]+)\)", e)
    if m and m[1] in ALL_PATHS and m[2] in ALL_PATHS:
        return Column("", "first_of", (m[1], m[2]), type=_path_type(m[1]))
    m = re.fullmatch(r"(any_value|max|min)\(([\w.]+)\)", e)
    if m and m[2] in ALL_PATHS:
        return Column("", "any", (m[1], m[2]), type=_path_type(m[2]))
    if (ts := _time_subject(e)) is not None:
        return Column("", "date", ts, type="DATE")
    m = re.fullmatch(r"to_json_string\(([\w.]+)\)", e)
    if m and m[1] in JSON_PATHS:
        return Column("", "json", m[1])
    if e in ALL_PATHS:
        return Column("", "path", e, type=_path_type(e))
    if ca and e.startswith(ca + ".") and e[len(ca) + 1 :] in CREDIT_FIELDS:
        field = e[len(ca) + 1 :]
        return Column("", "credit_field", field, type="FLOAT" if field == "amount" else "STRING")
    return None


def _path_type(path: str) -> str:
    if path in FLOAT_PATHS:
        return "FLOAT"
    return "TIMESTAMP" if path in TIME_PATHS else "STRING"


def _subject(text: str, query: Query) -> str:
    e = _squash(text)
    if e == "_partitiontime":
        return "export_time"
    if e in ALL_PATHS:
        return e
    if (ts := _time_subject(e)) is not None:
        return f"date:{ts[0]}:{ts[1]}"
    ca = query.credit_alias
    if ca and e.startswith(ca + ".") and e[len(ca) + 1 :] in CREDIT_FIELDS:
        return "credit." + e[len(ca) + 1 :]
    raise invalid_query(f"Unsupported WHERE subject {text.strip()!r}. {HELP}")


def parse_condition(text: str, query: Query, params: dict) -> Condition:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    m = re.fullmatch(r"(.+?)\s+(IS\s+NOT\s+NULL|IS\s+NULL)", text, re.I | re.S)
    if m:
        return Condition(_subject(m[1], query), " ".join(m[2].lower().split()), None)
    m = re.fullmatch(r"(.+?)\s+(NOT\s+IN|IN)\s+(.+)", text, re.I | re.S)
    if m:
        subject = _subject(m[1], query)
        return Condition(
            subject, " ".join(m[2].lower().split()), _list_value(m[3], params, subject)
        )
    m = re.fullmatch(r"(.+?)\s*(>=|<=|!=|<>|=|>|<)\s*(.+)", text, re.S)
    if not m:
        raise invalid_query(f"Unsupported WHERE condition {text!r}. {HELP}")
    subject = _subject(m[1], query)
    op = "!=" if m[2] == "<>" else m[2]
    return Condition(subject, op, _coerce(_value(m[3], params), subject))


def _list_value(text: str, params: dict, subject: str) -> list:
    t = text.strip()
    m = re.fullmatch(r"UNNEST\s*\(\s*@(\w+)\s*\)", t, re.I)
    if m:
        values = _param(m[1], params)
    elif t.startswith("(") and t.endswith(")"):
        values = [_value(v, params) for v in t[1:-1].split(",")]
    else:
        raise invalid_query(f"Unsupported IN list {text!r}. {HELP}")
    return [_coerce(v, subject) for v in values]


def _param(name: str, params: dict):
    if name not in params:
        raise invalid_query(f"Query parameter '{name}' not found")
    return params[name]


def _value(text: str, params: dict):
    t = text.strip()
    if t.startswith("@"):
        return _param(t[1:], params)
    m = re.fullmatch(r"(TIMESTAMP|DATE)\s*\(?\s*('[^']*'|\"[^\"]*\")\s*\)?", t, re.I)
    if m:
        return _literals(m[2])[0]
    if _literals(t) and t[0] in "'\"":
        return _literals(t)[0]
    if t.upper() in ("TRUE", "FALSE"):
        return t.upper() == "TRUE"
    try:
        return float(t)
    except ValueError:
        raise invalid_query(f"Unsupported value {text!r}: use @parameters or literals.") from None


def parse_timestamp(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().replace(" UTC", "+00:00").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise invalid_query(f"Could not cast literal {value!r} to type TIMESTAMP") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _coerce(value, subject: str):
    if subject in TIME_PATHS and value is not None:
        return parse_timestamp(value)
    if subject.startswith("date:") and isinstance(value, datetime):
        return value.date().isoformat()
    return value


def parse_order(text: str, query: Query) -> list[tuple[str, bool]]:
    out = []
    names = [c.name for c in query.columns]
    for item in text.split(","):
        parts = item.split()
        if not parts:
            continue
        key, desc = parts[0], len(parts) > 1 and parts[1].upper() == "DESC"
        if key.isdigit() and 0 < int(key) <= len(names):
            key = names[int(key) - 1]
        elif key not in names and _squash(key) not in ALL_PATHS:
            raise invalid_query(f"Unsupported ORDER BY item {item.strip()!r}. {HELP}")
        out.append((key if key in names else _squash(key), desc))
    return out
