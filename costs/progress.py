"""Progress of a running import, kept in Redis: the import itself is one database
transaction, whose writes nobody sees until it commits, so the page polls this instead."""

import django_rq
from redis.exceptions import RedisError

KEEP_SECONDS = 24 * 3600
EVERY_ROWS = 20_000


def due(rows_before: int, rows_now: int) -> bool:
    """Whether reading from `rows_before` to `rows_now` rows passed a report's turn."""
    return rows_before // EVERY_ROWS != rows_now // EVERY_ROWS


def _key(import_id: int) -> str:
    return f"costs:import-progress:{import_id}"


def report(
    import_id: int, rows: int, bytes_read: int, waiting: bool = False, counting: bool = False
) -> None:
    """Rows and bytes read so far; `waiting`: for another import to finish first;
    `counting`: the file is read, its rows are being counted into the month."""
    conn = django_rq.get_connection("billing")
    mapping = {
        "rows": rows,
        "bytes": bytes_read,
        "waiting": int(waiting),
        "counting": int(counting),
    }
    conn.hset(_key(import_id), mapping=mapping)
    conn.expire(_key(import_id), KEEP_SECONDS)


def read(import_id: int) -> dict[str, int]:
    """{"rows", "bytes", "waiting", "counting"} so far ({} before the first report, or
    while Redis does not answer: the page goes on without the figures)."""
    try:
        raw = django_rq.get_connection("billing").hgetall(_key(import_id))
    except RedisError:
        return {}
    return {k.decode(): int(v) for k, v in raw.items()}
