"""A row's identity ignores null members at any depth (null = absent), whatever the keys
and strings hold: random rows hash as the same rows written without their nulls."""

import random

import orjson

from costs.bq_rows import _row_hash

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
        line = orjson.dumps(row)
        pruned = _prune(row)
        assert _row_hash(row, line) == _row_hash(pruned, orjson.dumps(pruned)), row
