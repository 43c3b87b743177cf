"""Exact money: amounts as integer nano-units (BigQuery NUMERIC's scale of 9 decimals)."""

import re
from decimal import ROUND_HALF_UP, Decimal

NANOS = Decimal(1_000_000_000)
CENT = Decimal("0.01")


# Digits (ASCII), a point for the decimals, commas only between thousands.
_WRITTEN = re.compile(r"([-+]?)([1-9][0-9]{0,2}(?:,[0-9]{3})+|[0-9]+)?(\.[0-9]+)?")


def written_amount(text: str) -> Decimal | None:
    """An amount as a person or a spreadsheet writes it: "1,250.50" -> 1250.50; None for
    anything else ("250,00" or "0,500" — decimal commas, "1e3", "٣٠٠", "1,2,3")."""
    match = _WRITTEN.fullmatch(text.strip())
    if match is None or not (match[2] or match[3]):
        return None
    sign, whole, fraction = match.groups()
    return Decimal(sign + (whole or "0").replace(",", "") + (fraction or ""))


def to_nanos(amount: Decimal | int) -> int:
    """An amount in nano-units, rounded half away from zero like CAST(x AS NUMERIC)."""
    return int((amount * NANOS).to_integral_value(ROUND_HALF_UP))


def from_nanos(nanos: int) -> Decimal:
    return Decimal(nanos).scaleb(-9)


def in_cents(nanos: int) -> Decimal:
    """An exact nano amount rounded half-up to cents, as every figure is shown."""
    return from_nanos(nanos).quantize(CENT, ROUND_HALF_UP) + 0  # + 0: no "-0.00"


def cents(nanos: int) -> str:
    """The decimal string of an exact nano amount rounded half-up to cents ("12.35")."""
    return str(in_cents(nanos))


def shown(amount: Decimal, currency: str) -> str:
    """An amount as a message states it: "$1,234.50" in US dollars, else "1,234.50 EUR"."""
    value = amount.quantize(CENT, ROUND_HALF_UP) + 0
    return f"${value:,.2f}" if currency == "USD" else f"{value:,.2f} {currency}"


def percent(share) -> str:
    """A share as the Costs pages show it: 0.508 -> "50.8%"; None -> "—"."""
    if share is None:
        return "—"
    return f"{round(share * 100, 1) + 0:,.1f}%"  # + 0: no "-0.0%" for a zero share
