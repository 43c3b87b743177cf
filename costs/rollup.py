"""Adding new export rows' sums into the daily rollups, and re-attributing them."""

from decimal import Decimal, localcontext

from django.db import connection, transaction
from django.db.models import JSONField, Sum

from costs.attribution import Attributor
from costs.bq_rows import MAX_NANOS, RowKey, key_digest
from costs.models import CostDaily
from costs.money import from_nanos, to_nanos

CHUNK = 500
USAGE_FIELD = CostDaily._meta.get_field("usage_amount")
USAGE_DIGITS = USAGE_FIELD.max_digits
MAX_USAGE = Decimal(10) ** (USAGE_DIGITS - USAGE_FIELD.decimal_places)  # NUMERIC(38, 9): 1e29
_SUMMED = ["cost_nanos", "credits_nanos", "net_nanos", "usage_amount", "credits_by_type"]


class BucketOverflow(Exception):
    """A daily bucket's sum would pass what an amount can be (64-bit nano-units), or its
    usage what a usage amount can be (NUMERIC(38, 9))."""

    def __init__(self, key: RowKey, usage: bool = False):
        self.key = key
        where = (
            f"of {key.usage_day} for {key.sku_description or key.sku_id or '(no SKU)'} in "
            f"{key.project_id or '(no project)'}"
        )
        super().__init__(
            f"the usage {where} sums to more than a usage amount can be (less than 1e29 either way)"
            if usage
            else f"the rows {where} sum to more than an amount can be (at most "
            f"{from_nanos(MAX_NANOS):,} either way)"
        )


def key_hash(key: RowKey) -> str:
    return key_digest(key).hex()


def add(sums_by_key: dict[RowKey, dict], attributor: Attributor) -> None:
    """Add each key's sums to its CostDaily bucket, creating the buckets not seen yet.
    Raises BucketOverflow (before writing anything) when a bucket's sum passes the bound."""
    items = [(key_hash(key), key, sums) for key, sums in sums_by_key.items()]
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        existing = CostDaily.objects.in_bulk([h for h, _, _ in chunk], field_name="key_hash")
        created, updated = [], []
        for hashed, key, sums in chunk:
            bucket = existing.get(hashed)
            if bucket is None:
                bucket = _new_bucket(hashed, key, attributor)
                created.append(bucket)
            else:
                updated.append(bucket)
            _add_sums(bucket, sums)
            summed = (bucket.cost_nanos, bucket.credits_nanos, bucket.net_nanos)
            if not all(-MAX_NANOS <= n <= MAX_NANOS for n in summed):
                raise BucketOverflow(key)
            if not -MAX_USAGE < Decimal(bucket.usage_amount) < MAX_USAGE:  # exact (abs() rounds)
                raise BucketOverflow(key, usage=True)
        _create(created)
        _update(updated, ["row_count", *_SUMMED])


# Writing buckets on PostgreSQL: COPY, psycopg adapting the values (JSON through its
# model field). Django's bulk_create and bulk_update quote every value into the
# statement's text in Python (bulk_update with a CASE per field and bucket): ~0.1 ms and
# ~1 ms a bucket, when an import touches a month's 13 000 buckets.
_CHANGES = "costs_bucket_change"


def _create(buckets: list[CostDaily]) -> None:
    if connection.vendor != "postgresql":
        CostDaily.objects.bulk_create(buckets)
        return
    meta = CostDaily._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    with connection.cursor() as cursor:
        _copy(cursor, meta.db_table, fields, buckets)


def _update(buckets: list[CostDaily], names: list[str]) -> None:
    """Save these fields of the buckets: on PostgreSQL, COPY into a temporary table and
    one UPDATE from it; elsewhere (SQLite) one prepared UPDATE run for each."""
    if not buckets:
        return
    meta = CostDaily._meta
    if connection.vendor != "postgresql":  # one prepared UPDATE a bucket
        fields = [meta.get_field(name) for name in names]
        sets = ", ".join(f"{f.column} = %s" for f in fields)
        rows = [
            [f.get_db_prep_save(getattr(b, f.attname), connection) for f in fields] + [b.pk]
            for b in buckets
        ]
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {meta.db_table} SET {sets} WHERE {meta.pk.column} = %s",  # noqa: S608
                rows,
            )
        return
    fields = [meta.pk, *(meta.get_field(name) for name in names)]
    columns = ", ".join(f.column for f in fields)
    sets = ", ".join(f"{f.column} = v.{f.column}" for f in fields[1:])
    pk = meta.pk.column
    with transaction.atomic(), connection.cursor() as cursor:  # the table lives in it
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_CHANGES} AS "  # noqa: S608 - the model's own names
            f"SELECT {columns} FROM {meta.db_table} WITH NO DATA"
        )
        _copy(cursor, _CHANGES, fields, buckets)
        cursor.execute(
            f"UPDATE {meta.db_table} AS d SET {sets} FROM {_CHANGES} AS v "  # noqa: S608
            f"WHERE d.{pk} = v.{pk}"
        )
        cursor.execute(f"DROP TABLE {_CHANGES}")


def _copy(cursor, table: str, fields: list, buckets: list[CostDaily]) -> None:
    columns = ", ".join(f.column for f in fields)
    names = [f.attname for f in fields]
    json = [(i, f.get_db_prep_save) for i, f in enumerate(fields) if isinstance(f, JSONField)]
    db = cursor.db  # the connection itself (`connection` is a proxy, looked up per use)
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for bucket in buckets:
            values = bucket.__dict__
            row = [values[name] for name in names]
            for i, prep in json:
                row[i] = prep(row[i], db)
            copy.write_row(row)


def _new_bucket(hashed: str, key: RowKey, attributor: Attributor) -> CostDaily:
    labels = dict(key.labels)
    env_id, component = attributor.attribute(key.project_id, labels, key.service_description)
    fields = key._asdict()
    fields["labels"] = labels
    return CostDaily(key_hash=hashed, environment_id=env_id, component=component, **fields)


def _add_sums(bucket: CostDaily, sums: dict) -> None:
    bucket.row_count += sums["rows"]
    bucket.cost_nanos += sums["cost"]
    bucket.credits_nanos += sums["credits"]
    bucket.net_nanos = bucket.cost_nanos + bucket.credits_nanos
    if sums["usage"] is not None:
        with localcontext(prec=USAGE_DIGITS):  # not the default 28 digits: exact
            bucket.usage_amount = Decimal(bucket.usage_amount) + sums["usage"]
    by_type = dict(bucket.credits_by_type)
    for kind, nanos in sums["by_type"].items():
        total = to_nanos(Decimal(by_type.get(kind, "0"))) + nanos
        by_type[kind] = str(from_nanos(total))
    bucket.credits_by_type = by_type


def month_nets(months) -> dict[str, int]:
    """Net nanos per invoice month (months without rows: 0)."""
    nets = dict.fromkeys(months, 0)
    rows = (
        CostDaily.objects.filter(invoice_month__in=list(months))
        .values_list("invoice_month")
        .annotate(net=Sum("net_nanos"))
    )
    for month, net in rows:
        nets[month] = net or 0
    return nets


def reattribute(attributor: Attributor | None = None) -> int:
    """Recompute every bucket's environment and component from its project and labels
    (after an environment's cost_labels or gcp_project changed); returns how many moved."""
    attributor = attributor or Attributor()
    changed = []
    for bucket in CostDaily.objects.only(
        "id", "project_id", "labels", "service_description", "environment", "component"
    ).iterator(chunk_size=2000):
        env_id, component = attributor.attribute(
            bucket.project_id, bucket.labels, bucket.service_description
        )
        if (env_id, component) != (bucket.environment_id, bucket.component):
            bucket.environment_id, bucket.component = env_id, component
            changed.append(bucket)
    for start in range(0, len(changed), 5000):
        _update(changed[start : start + 5000], ["environment", "component"])
    return len(changed)
