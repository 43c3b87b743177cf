"""The rows of one import, staged in temporary tables so that the database — not Python
memory — numbers identical rows, finds those not yet counted and sums them.

Temporary tables are private to the connection and dropped at the end of the import;
PostgreSQL loads them with COPY, other databases with batched INSERTs.
"""

from collections.abc import Iterable
from decimal import Decimal, localcontext

from django.db import connection

from costs.models import BillingRow

STAGED = "costs_staged_row"
STAGED_CREDIT = "costs_staged_credit"
NEW = "costs_staged_new"
BATCH = 5000
_COLUMNS = "seq, row_hash, invoice_month, key_hash, cost, credits, usage_amount"
_CREDIT_COLUMNS = "seq, credit_type, amount"
_INSERT_STAGED = f"INSERT INTO {STAGED} VALUES (%s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
_INSERT_CREDIT = f"INSERT INTO {STAGED_CREDIT} VALUES (%s, %s, %s)"  # noqa: S608


def _types() -> dict:
    if connection.vendor == "postgresql":
        return {"blob": "bytea", "num": "numeric"}
    return {"blob": "blob", "num": "text"}  # SQLite: exact text, summed by Python


def create() -> None:
    t = _types()
    with connection.cursor() as cursor:
        drop(cursor)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGED} (seq bigint, row_hash {t['blob']}, "
            f"invoice_month varchar(7), key_hash {t['blob']}, cost bigint, credits bigint, "
            f"usage_amount {t['num']})"
        )
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGED_CREDIT} (seq bigint, credit_type text, amount bigint)"
        )


def drop(cursor=None) -> None:
    if cursor is None:
        with connection.cursor() as own:
            return drop(own)
    for table in (NEW, STAGED_CREDIT, STAGED):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def write(rows: list[tuple], credits: list[tuple]) -> None:
    """Append staged rows (seq, hash, month, key digest, cost, credits, usage) and their
    credits (seq, type, amount); seq orders identical rows (the line number)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _copy(cursor, f"COPY {STAGED} ({_COLUMNS}) FROM STDIN", rows)
            _copy(cursor, f"COPY {STAGED_CREDIT} ({_CREDIT_COLUMNS}) FROM STDIN", credits)
        else:
            sqlite_rows = [(*r[:6], None if r[6] is None else str(r[6])) for r in rows]
            cursor.executemany(_INSERT_STAGED, sqlite_rows)
            cursor.executemany(_INSERT_CREDIT, credits)


def write_copy_text(rows: bytes, credits: bytes) -> None:
    """The same as `write`, the rows already in COPY's text format (PostgreSQL only)."""
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {STAGED} ({_COLUMNS}) FROM STDIN") as copy:
            copy.write(rows)
        with cursor.cursor.copy(f"COPY {STAGED_CREDIT} ({_CREDIT_COLUMNS}) FROM STDIN") as copy:
            copy.write(credits)


def _copy(cursor, sql: str, rows: Iterable[tuple]) -> None:
    with cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def first_line(key_digests: list[bytes]) -> tuple[int, bytes]:
    """(line number, key digest) of the first staged row with one of these rollup keys."""
    postgresql = connection.vendor == "postgresql"
    size = len(key_digests) if postgresql else 500  # SQLite bounds a statement's variables
    found = []
    with connection.cursor() as cursor:
        for start in range(0, len(key_digests), size):
            chunk = key_digests[start : start + size]
            where, params = (
                ("key_hash = ANY(%s)", [chunk])
                if postgresql
                else (f"key_hash IN ({', '.join(['%s'] * len(chunk))})", chunk)
            )
            cursor.execute(
                f"SELECT seq, key_hash FROM {STAGED} WHERE {where} ORDER BY seq LIMIT 1",  # noqa: S608
                params,
            )
            found += [(seq, bytes(digest)) for seq, digest in cursor.fetchall()]
    return min(found)


def select_new() -> int:
    """Number each staged row among its identical ones (its occurrence in the file), keep
    those whose (hash, occurrence) is not counted yet; returns how many are new."""
    identity = BillingRow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {NEW}")  # selected again after a replace
        cursor.execute(
            f"CREATE TEMPORARY TABLE {NEW} AS "  # noqa: S608 - our own table names only
            "SELECT s.seq, s.row_hash, s.occurrence, s.invoice_month, s.key_hash, s.cost, "
            "s.credits, s.usage_amount FROM ("
            "  SELECT st.*, ROW_NUMBER() OVER (PARTITION BY st.row_hash ORDER BY st.seq)"
            f"  AS occurrence FROM {STAGED} st) s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {identity} b "
            "  WHERE b.row_hash = s.row_hash AND b.occurrence = s.occurrence)"
        )
        cursor.execute(f"SELECT COUNT(*) FROM {NEW}")  # noqa: S608
        return cursor.fetchone()[0]


def new_keys_by_month() -> dict[str, list[str]]:
    """The new rows' rollup keys (their buckets' `key_hash`) per invoice month."""
    keys: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT invoice_month, key_hash FROM {NEW}")  # noqa: S608
        for month, digest in cursor.fetchall():
            keys.setdefault(month, []).append(bytes(digest).hex())
    return keys


def claim_new(billing_import_id: int) -> None:
    """Record the new rows' identities: from now on they are known."""
    identity = BillingRow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {identity} (row_hash, occurrence, invoice_month, billing_import_id) "  # noqa: S608
            f"SELECT row_hash, occurrence, invoice_month, %s FROM {NEW}",
            [billing_import_id],
        )


def new_sums() -> dict[bytes, dict]:
    """Per rollup key digest: rows, cost, credits, usage and credits by type of the new
    rows."""
    if connection.vendor != "postgresql":
        return _sums_here()
    sums: dict[bytes, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key_hash, COUNT(*), SUM(cost), SUM(credits), SUM(usage_amount) "  # noqa: S608
            f"FROM {NEW} GROUP BY key_hash"
        )
        for digest, count, cost, credit, used in cursor.fetchall():
            sums[bytes(digest)] = _sums(count, int(cost), int(credit), used)
        cursor.execute(
            f"SELECT n.key_hash, c.credit_type, SUM(c.amount) FROM {NEW} n "  # noqa: S608
            f"JOIN {STAGED_CREDIT} c ON c.seq = n.seq GROUP BY n.key_hash, c.credit_type"
        )
        for digest, kind, amount in cursor.fetchall():
            sums[bytes(digest)]["by_type"][kind] = int(amount)
    return sums


def _sums(rows: int, cost: int, credits: int, usage: Decimal | None) -> dict:
    return {"rows": rows, "cost": cost, "credits": credits, "usage": usage, "by_type": {}}


def _sums_here() -> dict[bytes, dict]:
    """SQLite: the same sums, added by Python (SQLite's SUM of integers stops at 64 bits,
    and it would add usage's text as floats)."""
    sums: dict[bytes, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key_hash, cost, credits, usage_amount FROM {NEW}")  # noqa: S608
        for digest, cost, credit, usage in cursor:
            into = sums.setdefault(bytes(digest), _sums(0, 0, 0, None))
            into["rows"] += 1
            into["cost"] += cost
            into["credits"] += credit
            if usage is not None:
                with localcontext(prec=38):  # usage_amount's NUMERIC(38, 9), not 28 digits
                    into["usage"] = (into["usage"] or Decimal(0)) + Decimal(usage)
        cursor.execute(
            f"SELECT n.key_hash, c.credit_type, c.amount FROM {NEW} n "  # noqa: S608
            f"JOIN {STAGED_CREDIT} c ON c.seq = n.seq"
        )
        for digest, kind, amount in cursor:
            by_type = sums[bytes(digest)]["by_type"]
            by_type[kind] = by_type.get(kind, 0) + amount
    return sums
