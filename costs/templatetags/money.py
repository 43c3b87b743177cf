"""Money on the Costs pages: exact Decimals rounded half-up to cents only when shown."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

from costs.money import percent

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
    return percent(value)


@register.filter
def money_range(pair) -> str:
    """(low, high) -> "1,200.00–1,500.00", one figure when they round alike; None -> "—"."""
    if not pair:
        return "—"
    low, high = money(pair[0]), money(pair[1])
    return low if low == high else f"{low}–{high}"
