"""Export lines turned into the rows an import stages. Shared by the importer and its
parse workers (`parse_worker`), which run without Django."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from costs.bq_rows import (
    MAX_NANOS,
    FieldError,
    RowKey,
    credit_type,
    key_digest,
    parse,
    shown,
)
from costs.export_file import refused


@dataclass
class Staged:
    """What staging a file left: its rollup keys by digest, and the rows read."""

    keys: dict[bytes, RowKey] = field(default_factory=dict)
    rows_read: int = 0


def stage_lines(
    numbered: Iterable[tuple[int, bytes]],
    name: str,
    digests: dict[RowKey, bytes],
    rows: list[tuple],
    credits: list[tuple],
    new_keys: list[tuple[bytes, RowKey]],
    account: str = "",
) -> int:
    """Append each non-blank line's staged row (line number, identity hash, invoice
    month, rollup key digest, cost, credits, usage) to `rows` and its credits (line
    number, type, amount) to `credits`; a rollup key not in `digests` is added there and
    to `new_keys`. Returns how many rows were appended; a bad line raises RefusedFile
    naming it (`name:number`) and the field, a row of another billing account than
    `account` (when given) too."""
    count = 0
    for number, line in numbered:
        if not line or line.isspace():  # blank (isspace() copies nothing, strip() would)
            continue
        try:
            row = parse(line)
        except FieldError as exc:
            raise refused(f"{name}:{number}", str(exc)) from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise refused(f"{name}:{number}", f"not valid JSON ({_reason(exc)})") from None
        if account and row.account and row.account != account:
            raise refused(
                f"{name}:{number}", other_account("billing_account_id", row.account, account)
            )
        key = row.key
        digest = digests.get(key)
        if digest is None:
            digest = digests[key] = key_digest(key)
            new_keys.append((digest, key))
        total = 0
        for kind, amount in row.credits:
            credits.append((number, credit_type(kind), amount))
            total += amount
        if not -MAX_NANOS <= total <= MAX_NANOS:
            raise refused(f"{name}:{number}", "credits: their sum is more than an amount can be")
        usage = row.usage_amount
        rows.append((number, row.row_hash, key.invoice_month, digest, row.cost_nanos, total, usage))
        count += 1
    return count


def other_account(field: str, value: str, account: str) -> str:
    return (
        f"{field}: {shown(value)} is not the billing account of the platform file ({account}, "
        "[billing] account); an export holds one account's rows"
    )


def _reason(exc: ValueError) -> str:
    msg, col = getattr(exc, "msg", None), getattr(exc, "colno", None)
    if not msg:
        return str(exc)
    at = " " if msg.endswith(" at") else " at "  # "Unterminated string starting at"
    return f"{msg}{at}column {col}"
