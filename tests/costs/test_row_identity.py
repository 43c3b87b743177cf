"""A row's identity ignores null members at any depth (null = absent), whatever the keys
and strings hold: random rows hash as the same rows written without their nulls. And it
is the identity rows were always stored under, however a line writes its numbers."""

import hashlib
import json
import random
import typing
from decimal import Decimal

import msgspec
import orjson

from costs import bq_rows, bq_schema
from costs.bq_rows import MAX_NANOS, FieldError, _row_hash, parse
from costs.money import to_nanos

TEXTS = ["", "a", '"', '","k":null,', "\\", "null", "{", "}", ":null}", "é", '\\"']


def _prune(value):
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _random(rnd: random.Random, depth: int = 0):
    kind = rnd.random()
    if depth < 3 and kind < 0.3:
        return {
            rnd.choice(TEXTS) + str(i): _random(rnd, depth + 1) for i in range(rnd.randint(0, 4))
        }
    if depth < 3 and kind < 0.4:
        return [_random(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    return rnd.choice([None, None, 1, 2.5, True, rnd.choice(TEXTS)])


def test_nulls_are_dropped_exactly_as_a_recursive_pruning_would():
    rnd = random.Random(20261202)
    for _ in range(5000):
        row = {"cost": 1, "x": _random(rnd)}
        pruned = _prune(row)
        assert _row_hash(row) == _row_hash(pruned), row


# --- the identity's definition, computed independently --------------------------------

NUMBERS = [
    "0",
    "-0",
    "7",
    "-12",
    "100",
    "1.50",
    "1.5",
    "-0.0",
    "0.000",
    "1e3",
    "1E+3",
    "2.5e-4",
    "-0.161916",
    "123456789012345678901234567890",
    "18446744073709551616",
    "0.1e1",
]
# Amounts the import holds (the others are refused, whichever way they are written).
AMOUNTS = [n for n in NUMBERS if abs(Decimal(n)) <= Decimal(MAX_NANOS).scaleb(-9)]
RATES = [n for n in NUMBERS if Decimal(n) > 0]  # a conversion rate is above 0


def _text(rnd: random.Random, depth: int = 0) -> str:
    """A JSON value written as text, numbers spelled many ways."""
    kind = rnd.random()
    if depth < 3 and kind < 0.25:
        members = [
            f"{json.dumps(rnd.choice(TEXTS) + str(i))}: {_text(rnd, depth + 1)}"
            for i in range(rnd.randint(0, 4))
        ]
        return "{" + ", ".join(members) + "}"
    if depth < 3 and kind < 0.35:
        return "[" + ",".join(_text(rnd, depth + 1) for _ in range(rnd.randint(0, 3))) + "]"
    if kind < 0.7:
        return rnd.choice(NUMBERS)
    return rnd.choice(["null", "true", "false", json.dumps(rnd.choice(TEXTS))])


def _identity(line: bytes) -> bytes:
    """The stored identity, by its definition: the row read with every number a Decimal,
    null members dropped, numbers as normalised decimal text, keys sorted, BLAKE2b-128."""

    def canonical(value):
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [canonical(v) for v in value]
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        return value

    row = json.loads(line, parse_float=Decimal, parse_int=Decimal)
    text = orjson.dumps(canonical(row), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(text, digest_size=16).digest()


def test_a_rows_identity_and_amounts_do_not_depend_on_how_its_numbers_are_written():
    rnd = random.Random(20261207)
    for _ in range(3000):
        cost, credit, rate = rnd.choice(AMOUNTS), rnd.choice(AMOUNTS), rnd.choice(RATES)
        line = (
            f'{{"x": {_text(rnd)}, "cost": {cost}, "currency": "USD", '
            f'"currency_conversion_rate": {rate}, "invoice": {{"month": "202610"}}, '
            f'"usage_start_time": "2026-10-01 07:00:00 UTC", "usage": {{"amount": {cost}}}, '
            f'"credits": [{{"amount": {credit}, "type": "PROMOTION"}}], "y": {_text(rnd)}}}'
        ).encode()
        row = parse(line)
        assert row.row_hash == _identity(line), line
        assert row.cost_nanos == to_nanos(Decimal(cost)), line
        assert row.credits == [("PROMOTION", to_nanos(Decimal(credit)))], line
        assert row.usage_amount == Decimal(cost), line
        assert row.key.currency_conversion_rate == format(Decimal(rate).normalize(), "f"), line


# --- any value in any field: read, or refused with the field named ---------------------

PATHS = [
    ("cost",),
    ("currency",),
    ("currency_conversion_rate",),
    ("cost_type",),
    ("usage_start_time",),
    ("invoice",),
    ("invoice", "month"),
    ("project",),
    ("project", "id"),
    ("service",),
    ("service", "id"),
    ("service", "description"),
    ("sku",),
    ("sku", "description"),
    ("location",),
    ("location", "region"),
    ("usage",),
    ("usage", "amount"),
    ("usage", "unit"),
    ("labels",),
    ("labels", 0),
    ("labels", 0, "key"),
    ("labels", 0, "value"),
    ("credits",),
    ("credits", 0),
    ("credits", 0, "amount"),
    ("credits", 0, "type"),
]
ODD = [
    "null",
    "true",
    "0",
    "-0",
    "1.5",
    '"x"',
    '""',
    "[]",
    "[1]",
    '["a"]',
    "{}",
    '{"a": 1}',
    '[{"key": 1}]',
    '{"month": [1]}',
    '"2026-13-01 00:00:00 UTC"',
    '"202613"',
]


def _good_row() -> dict:
    return {
        "cost": "<1.25>",
        "currency": "USD",
        "currency_conversion_rate": "<1.0>",
        "cost_type": "regular",
        "usage_start_time": "2026-10-05 07:00:00 UTC",
        "invoice": {"month": "202610"},
        "project": {"id": "acme-staging"},
        "service": {"id": "S", "description": "Cloud Run"},
        "sku": {"id": "K", "description": "CPU"},
        "location": {"region": "us-central1"},
        "usage": {"amount": "<3600>", "unit": "seconds"},
        "labels": [{"key": "app", "value": "agent"}],
        "credits": [{"amount": "<-0.25>", "type": "PROMOTION"}],
    }


def test_any_value_in_any_field_is_read_or_refused_naming_the_field():
    rnd = random.Random(7)
    for _ in range(4000):
        row = _good_row()
        changed = []
        for _ in range(rnd.randint(1, 3)):
            path = rnd.choice(PATHS)
            target = row
            try:
                for step in path[:-1]:
                    target = target[step]
                target[path[-1]] = f"<{rnd.choice(ODD)}>"
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change replaced a parent
            changed.append(path)
        line = json.dumps(row).replace('"<', "").replace('>"', "").replace('\\"', '"').encode()
        try:
            parse(line)
        except FieldError as exc:
            field = str(exc).split(":")[0]
            assert field.split(".")[0].split("[")[0] in {p[0] for p in changed}, (line, exc)


# --- the standard schema's reading is the general reading, faster ----------------------

STRINGS = [*TEXTS, "", "é\u2028\x1f\x7f😀", "\\u00e9", "2026-10-05 07:00:00 UTC"]
GOOD = {  # values that keep a row importable, so that most rows are read, not refused
    "usage_start_time": ['"2026-10-05 07:00:00 UTC"', '"2026-10-31T23:30:00Z"'],
    "month": ['"202610"', '"202611"'],
    "currency": ['"USD"', '"EUR"'],
}
OTHER_KINDS = ["1", '"x"', "[]", "{}", "true", '[{"key": "k"}]', '{"key": "k"}', "01", "1."]
OTHER_KINDS += ["-", "NaN", "1e", r'"\ud800"', r'"\x"', '"\t"']  # not JSON, or not text


def _kind(struct, name: str):
    """The field's kind: number, bool, str, a record's Struct or (list, items' Struct)."""
    hint = typing.get_type_hints(struct)[name]
    if hint is msgspec.Raw:
        return "number"
    for arg in typing.get_args(hint):
        if typing.get_origin(arg) is list:
            return ("list", typing.get_args(arg)[0])
        if arg is bool:
            return "bool"
        if isinstance(arg, type) and issubclass(arg, bq_schema.Record):
            return arg
    return "str"


def _value(rnd: random.Random, name: str, kind, odd: float) -> str:
    """JSON text for a field: mostly of its declared kind, sometimes null, and with
    probability `odd` a value of another kind (or, for the GOOD fields, any value)."""
    roll = rnd.random()
    if name in GOOD and roll >= odd:
        return rnd.choice(GOOD[name])
    if roll < odd:
        return rnd.choice(OTHER_KINDS)
    if roll < odd + 0.06:
        return "null"
    if kind == "number":  # a conversion rate above 0, mostly: else the file is refused
        rates = name == "currency_conversion_rate" and rnd.random() > odd
        return rnd.choice(RATES if rates else NUMBERS)
    if kind == "bool":
        return rnd.choice(["true", "false"])
    if kind == "str":
        return json.dumps(rnd.choice(STRINGS), ensure_ascii=rnd.random() < 0.5)
    if isinstance(kind, tuple):
        items = (_record(rnd, kind[1], odd) for _ in range(rnd.randint(0, 3)))
        return "[" + ", ".join(items) + "]"
    return _record(rnd, kind, odd)


def _record(rnd: random.Random, struct, odd: float) -> str:
    """A record of the schema as a line writes it: members in any order, some absent,
    with probability `odd` one the schema does not know."""
    members = [
        f"{json.dumps(name)}:{rnd.choice(['', ' '])}" + _value(rnd, name, _kind(struct, name), odd)
        for name in struct.__struct_fields__
        if name in ("cost", "invoice") or rnd.random() < 0.75
    ]
    if rnd.random() < odd:
        members.append('"not_in_the_schema": 1')
    rnd.shuffle(members)
    return "{" + rnd.choice([",", ", "]).join(members) + "}"


def _reading(read, line: bytes):
    try:
        return read(line)
    except (FieldError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def test_a_line_in_the_standard_schema_reads_as_the_general_reading_reads_it():
    rnd = random.Random(20261207)
    read = standard = 0
    for _ in range(4000):
        line = _record(rnd, bq_schema.Row, odd=rnd.choice([0, 0, 0.002, 0.02])).encode()
        row = _reading(parse, line)
        assert row == _reading(bq_rows._general, line), line
        if isinstance(row, str):
            continue  # refused, with the same message
        read += 1
        assert row.row_hash == _identity(line), line
        try:
            bq_rows._standard(line)
            standard += 1
        except (msgspec.DecodeError, bq_rows._NotStandard):
            pass
    assert read > 500
    assert standard > 0.8 * read  # the lines the standard reading did not read hold odd values


def test_a_numbers_text_is_normalised_as_the_decimal_definition_says():
    rnd = random.Random(28)
    digits = "0123456789"
    for _ in range(20_000):
        whole = rnd.choice(
            ["0", rnd.choice("123456789") + "".join(rnd.choices(digits, k=rnd.randint(0, 30)))]
        )
        text = rnd.choice(["", "-"]) + whole
        if rnd.random() < 0.7:
            text += "." + "".join(rnd.choices(digits, k=rnd.randint(1, 30)))
        if rnd.random() < 0.15:
            text += rnd.choice("eE") + rnd.choice(["", "+", "-"]) + str(rnd.randint(0, 40))
        assert bq_rows._normal(text) == format(Decimal(text).normalize(), "f"), text


def test_the_standard_schema_declares_fields_in_sorted_order_as_identities_have_keys():
    def records(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from records(sub)

    assert set(records(bq_schema.Record)) == set(bq_schema.RECORDS)
    for struct in bq_schema.RECORDS:
        assert list(struct.__struct_fields__) == sorted(struct.__struct_fields__), struct
