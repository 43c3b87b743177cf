"""Money on the Costs pages: exact Decimals rounded half-up to cents only when shown."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()
CENT = Decimal("0.01")


@register.filter
def money(value) -> str:
    """1234.5 -> "1,234.50"; None -> "—"."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(value).quantize(CENT, ROUND_HALF_UP) + 0:,.2f}"


@register.filter
def share(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
