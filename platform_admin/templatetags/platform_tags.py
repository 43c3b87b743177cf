from django import template

from platform_admin.audit import canonical_json

register = template.Library()


@register.filter
def as_json(value) -> str:
    """Audit details as the JSON that was hashed, not Python's repr."""
    return canonical_json(value)
