"""Formatting of health figures for the templates: None always reads "no data"."""

from django import template

from monitoring import pages
from monitoring.figures import BREACHED, BURNING, HEALTHY, NO_DATA, STALE

register = template.Library()

_BADGES = {
    HEALTHY: "badge-ok",
    BURNING: "badge-warn",
    BREACHED: "badge-bad",
    STALE: "badge",
    NO_DATA: "badge",
}


@register.filter
def health_badge(status: str) -> str:
    return _BADGES.get(status, "badge")


@register.filter
def pct(value, digits: int = 2) -> str:
    return pages.pct(value, int(digits))


@register.filter
def ms(value) -> str:
    return pages.ms(value)


@register.filter
def rps(value) -> str:
    return pages.rps(value)


@register.filter
def burn(value) -> str:
    return "no data" if value is None else f"{value:.1f}×"


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None
