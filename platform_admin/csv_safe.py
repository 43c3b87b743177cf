"""CSV cells a spreadsheet will not run as formulas (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`, `-` or `@`
(and, in some, a tab or carriage return before one) as a formula: a failed login typed
as `=HYPERLINK(...)` would become a live link in the auditor's spreadsheet. Every CSV
export writes its rows through `safe_row`, which prefixes such text with a single quote
so it shows as the text it was.
"""

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, with a leading `'` when it is text a spreadsheet would read as a formula.

    Only strings are touched: numbers (int, Decimal, float) are written as digits, which a
    spreadsheet reads as a number, so a negative amount stays a negative amount. Hex
    hashes, ISO dates and JSON objects never start with one of these characters."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through `safe_cell`."""
    return [safe_cell(value) for value in values]
