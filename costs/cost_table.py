"""The Cloud Billing console's Cost table CSV ("<Account>_Cost table, <from> — <to>.csv"):
a header block (account, invoice, currency, totals: "Key,Value" lines), a blank line or
not, then the columns the view had, one line per row.

Each data line becomes the BigQuery-export row it stands for (as JSON text, amounts kept
as their exact digits), so the importer's one path parses, hashes, counts and attributes
it. Recognised columns (case and spacing ignored; only "Cost" is required):

- Cost: "Unrounded cost (...)" when present, else "Cost (...)"; a line with a
  "Credit type" is that credit (its cost is the credit's amount).
- Project ID; Service description / ID; SKU description / ID; Cost type; Usage start
  date (a date or a time: the usage day); Usage amount and unit; Invoice month (202610,
  2026-10, "October 2026" or "Oct 2026"), else the header block's "Invoice month".
- Currency: a "Currency" column, else the header block's, else the one the cost column
  names ("Cost (€)", "Cost (EUR)"; not "$", which is many dollars), else the platform's.

The sheet's last lines (Subtotal, Tax, Total: a word and amounts, from the first Subtotal
or Total on) are its own sums, not rows.

The Cost table has no resource labels: its rows are attributed by project.
"""

import calendar
import csv
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal

import msgspec

from costs.bq_rows import INVOICE_MONTH, PACIFIC, YEAR, shown
from costs.export_file import HashingReader, lines, refused
from costs.money import written_amount
from costs.staged_rows import other_account

MONTHS = {calendar.month_name[n].lower(): n for n in range(1, 13)} | {
    calendar.month_abbr[n].lower(): n for n in range(1, 13)
}
_SPACES = re.compile(r"\s+")
# The view's columns this reads (beside Cost); one of them with Cost marks the header line.
KNOWN_COLUMNS = frozenset(
    (
        "billing account name", "billing account id", "project name", "project id",
        "project number", "project hierarchy", "service description", "service id",
        "sku description", "sku id", "credit type", "cost type", "usage start date",
        "usage start time", "usage end date", "usage end time", "usage amount", "usage unit",
        "invoice month", "currency", "location", "region",
    )
)  # fmt: skip
_encode = msgspec.json.Encoder(decimal_format="number").encode  # amounts: their digits
CURRENCY_SIGNS = {
    "€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₪": "ILS", "₺": "TRY", "CA$": "CAD",
    "A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "R$": "BRL",
    "MX$": "MXN", "US$": "USD", "CHF": "CHF",
}  # fmt: skip


def _norm(name: str) -> str:
    return _SPACES.sub(" ", name.strip().lstrip("\ufeff")).lower()


def looks_like(sniffed: bytes) -> bool:
    """Does the start of a file look like a Cost table CSV?"""
    text = sniffed.decode("utf-8", "replace").lower()
    return "," in text and not text.lstrip().startswith(("{", "["))


def _column(columns: dict[str, int], *names: str) -> int | None:
    return next((columns[name] for name in names if name in columns), None)


def invoice_month(value: str) -> str | None:
    """ "202610", "2026-10", "October 2026" or "Oct 2026" -> "202610"; None if it is none
    of these (or outside the years an export holds, 1970-2999)."""
    text = value.strip()
    if INVOICE_MONTH.fullmatch(text):
        return text
    if match := re.fullmatch(YEAR + r"-(0[1-9]|1[0-2])", text):
        return match[1] + match[2]
    parts = text.replace(",", " ").split()
    if len(parts) == 2 and parts[0].lower() in MONTHS and re.fullmatch(YEAR, parts[1]):
        return f"{parts[1]}{MONTHS[parts[0].lower()]:02d}"
    return None


def _usage_start(value: str, where: str) -> str:
    """A Pacific usage date (or date-time) as the export's UTC timestamp text, at noon
    for a bare date so the usage day stays that day."""
    text = value.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(12), tzinfo=PACIFIC)
        else:
            moment = datetime.fromisoformat(text.replace(" UTC", "+00:00").replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=PACIFIC)
    except ValueError:
        raise refused(where, f"Usage start date: {shown(value)} is not a date") from None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: str, column: str, where: str) -> Decimal:
    text = value.strip()
    if text.startswith("(") and text.endswith(")"):  # (1.23) is -1.23 in some exports
        text = "-" + text[1:-1]
    number = written_amount(text)
    if number is None:
        comma = " (a comma only separates thousands: 1,234.56)" if "," in text else ""
        raise refused(where, f"{column}: {shown(value)} is not a number{comma}")
    return number


def json_lines(
    path, reader: HashingReader, name: str, currency: str, account: str = ""
) -> Iterator[tuple[int, bytes]]:
    """(CSV line number, the export row as JSON) of each data line; a bad line raises
    RefusedFile naming the line and the column, a line (or header block) of another
    billing account than `account` (when given) too."""
    header: dict[str, tuple[int, str]] = {}  # the header block: name -> (line, value)
    columns: dict[str, int] | None = None
    width = 0
    idx: dict[str, int | None] = {}
    cost_label = ""
    values: dict[str, str] = {}  # the header block's values
    footer = False  # past the sheet's Subtotal or Total line: its summary, not rows
    text = _Text(path, reader, name)
    records = csv.reader(text)  # a quoted cell may hold line breaks: a record, many lines
    while True:
        number = text.read + 1  # the record's first line
        where = f"{name}:{number}"
        try:
            cells = next(records)
        except StopIteration:
            break
        except csv.Error as exc:  # a lenient reader's only two
            raise refused(where, _unreadable(str(exc))) from None
        if not any(cell.strip() for cell in cells):  # ",,,,": a blank line of the sheet
            continue
        if columns is None:
            names = [_norm(c) for c in cells]
            if any(_is_cost(n) for n in names) and any(n in KNOWN_COLUMNS for n in names):
                columns = {n: i for i, n in enumerate(names)}
                width = len(cells)
                idx = _indexes(columns)
                cost_label = cells[idx["cost"]].strip().lstrip("\ufeff")
                _label_currency_into(header, cost_label, name)
                if idx["month"] is None:
                    _check_header_month(header, name)
                values = {key: value for key, (_, value) in header.items()}
                if account and (theirs := values.get("billing account id", account)) != account:
                    at = f"{name}:{header['billing account id'][0]}"
                    raise refused(at, other_account("Billing account ID", theirs, account))
                continue
            if len(cells) >= 2:  # "Invoice month,October, 2026": the value's commas kept
                header[_norm(cells[0])] = (number, ",".join(cells[1:]).strip().strip(","))
            continue
        summary = _summary_line(cells, values)
        if summary is not None:
            footer = footer or summary == "total"
            if footer:
                continue  # Subtotal, Tax, Total: the sheet's own sums, not rows
        if len(cells) != width and (
            len(cells) < width or any(cell.strip() for cell in cells[width:])
        ):
            hint = (
                'a line cut short, or a quote (") opening a cell that never closes?'
                if len(cells) < width
                else "an amount with a thousands separator outside quotes, 1,234.56?"
            )
            raise refused(
                where, f"{len(cells)} cells where the header names {width} columns ({hint})"
            )
        theirs = _cell(cells, idx["account"])
        if account and theirs and theirs != account:
            raise refused(where, other_account("Billing account ID", theirs, account))
        yield number, _row(cells, idx, values, currency, where, cost_label)
    if columns is None:
        raise refused(
            name,
            "no column header line found (a Cost table CSV names its columns, Cost among them)",
        )


def _check_header_month(header: dict[str, tuple[int, str]], name: str) -> None:
    """The header block's "Invoice month" (every row's, there being no column), named by
    its own line when it is not a month."""
    line, value = header.get("invoice month", (0, ""))
    if value and invoice_month(value) is None:
        raise refused(
            f"{name}:{line}",
            f"Invoice month: {shown(value)} is not a month (202610, 2026-10, October 2026)",
        )


def _label_currency(label: str) -> str:
    """The currency a cost column's label names: "Cost (EUR)", "Cost (eur)" or "Cost (€)"
    -> "EUR"; "" when it names none or an ambiguous sign ($ is many dollars, ¥ yen or
    yuan)."""
    match = re.search(r"\(([^()]*)\)\s*$", label)
    sign = match[1].strip() if match else ""
    if re.fullmatch(r"[A-Za-z]{3}", sign):
        return sign.upper()
    return CURRENCY_SIGNS.get(sign, "")


def _label_currency_into(header: dict[str, tuple[int, str]], label: str, name: str) -> None:
    """The file's currency from the cost column's label, when the header block has no
    Currency line; refused when the two disagree."""
    named = _label_currency(label)
    if not named:
        return
    if "currency" not in header:
        header["currency"] = (0, named)
        return
    line, value = header["currency"]
    if value.strip().upper() != named:
        raise refused(
            f"{name}:{line}",
            f"Currency: {shown(value)} is not the currency the column {shown(label)} names "
            f"({named})",
        )


def _summary_line(cells: list[str], header: dict[str, str]) -> str | None:
    """A line "Total,,12.34", "Total (USD):,USD,,12.34", "Acme,Grand total,12.34": one
    cell a summary word, every other filled cell an amount, a currency code or a value of
    the header block (the account's name): "total" or "tax" (the word's kind); None for
    any other line."""
    word = None
    for cell in (c.strip() for c in cells):
        if not cell or written_amount(cell) is not None:
            continue
        kind = _summary_word(cell)
        if kind is not None and word is None:
            word = kind
        elif not (re.fullmatch(r"[A-Z]{3}", cell) or cell in header.values()):
            return None
    return word


def _summary_word(text: str) -> str | None:
    """ "Total", "Grand total:", "Subtotal (USD)" -> "total"; "Tax", "Tax (8%)", "Rounding
    error" -> "tax"; None for any other text."""
    name = re.sub(r"\s*\(.*\)\s*$", "", _norm(text)).rstrip(":").strip()
    if re.fullmatch(r"(grand |sub)?total( cost| amount)?", name):
        return "total"
    return "tax" if name in ("tax", "taxes", "rounding error") else None


def _unreadable(error: str) -> str:
    if "new-line" in error:
        return (
            "a carriage return (CR) alone inside a line, outside quotes: save the file with "
            "LF or CRLF line ends"
        )
    return (
        f'a cell longer than {csv.field_size_limit():,} characters (a quote (") opening a '
        "cell here that never closes?)"
    )


class _Text:
    """The file's lines as text for `csv.reader` (line ends kept, which a quoted cell's
    line break needs); `read` counts the lines handed out so far."""

    def __init__(self, path, reader: HashingReader, name: str):
        self.read = 0
        self._lines = lines(path, reader, name)
        self._name = name

    def __iter__(self):
        return self

    def __next__(self) -> str:
        number, raw = next(self._lines)
        self.read = number
        try:
            return raw.decode("utf-8-sig").rstrip("\r") + "\n"
        except UnicodeDecodeError:
            raise refused(f"{self._name}:{number}", "not UTF-8 text") from None


def _is_cost(name: str) -> bool:
    """Whether a column is the cost: "Cost", "Cost ($)", "Unrounded cost (€)" — not
    "Cost type"."""
    return re.fullmatch(r"(unrounded )?cost( \(.*\))?", name) is not None


def _indexes(columns: dict[str, int]) -> dict[str, int | None]:
    costs = [(name, i) for name, i in columns.items() if _is_cost(name)]
    unrounded = next((i for name, i in costs if name.startswith("unrounded")), None)
    return {
        "cost": unrounded if unrounded is not None else next((i for _, i in costs), None),
        "project": _column(columns, "project id"),
        "account": _column(columns, "billing account id"),
        "service": _column(columns, "service description"),
        "service_id": _column(columns, "service id"),
        "sku": _column(columns, "sku description"),
        "sku_id": _column(columns, "sku id"),
        "credit_type": _column(columns, "credit type"),
        "cost_type": _column(columns, "cost type"),
        "start": _column(columns, "usage start date", "usage start time"),
        "amount": _column(columns, "usage amount"),
        "unit": _column(columns, "usage unit"),
        "month": _column(columns, "invoice month"),
        "currency": _column(columns, "currency"),
    }


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _row(cells, idx, header, currency, where, cost_label: str) -> bytes:
    month_text = _cell(cells, idx["month"]) or header.get("invoice month", "")
    month = invoice_month(month_text)
    if month is None:
        problem = f"{shown(month_text)} is not a month" if month_text else "is missing"
        raise refused(where, f"Invoice month: {problem} (a column, or the header block's line)")
    amount = _number(_cell(cells, idx["cost"]), cost_label, where)
    credit_type = _cell(cells, idx["credit_type"])
    start = _cell(cells, idx["start"])
    usage_amount = _cell(cells, idx["amount"])
    row = {
        "service": _named(_cell(cells, idx["service_id"]), _cell(cells, idx["service"])),
        "sku": _named(_cell(cells, idx["sku_id"]), _cell(cells, idx["sku"])),
        "project": {"id": p} if (p := _cell(cells, idx["project"])) else None,
        "usage_start_time": _usage_start(start, where)
        if start
        else f"{month[:4]}-{month[4:]}-01 19:00:00 UTC",
        "cost": Decimal(0) if credit_type else amount,
        "credits": [{"type": credit_type, "name": credit_type, "amount": amount}]
        if credit_type
        else [],
        "currency": (
            _cell(cells, idx["currency"]) or header.get("currency", "") or currency
        ).upper(),
        "usage": {
            "amount": _number(usage_amount, "Usage amount", where),
            "unit": _cell(cells, idx["unit"]),
        }
        if usage_amount
        else {"unit": _cell(cells, idx["unit"])},
        "invoice": {"month": month},
        "cost_type": (_cell(cells, idx["cost_type"]) or "regular").lower().replace(" ", "_"),
    }
    return _encode(row)


def _named(id_: str, description: str) -> dict | None:
    if not (id_ or description):
        return None
    return {"id": id_, "description": description}
