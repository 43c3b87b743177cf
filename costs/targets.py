"""Monthly targets finance sets in the dashboard (per environment, or per component of
one), overriding the platform file's `monthly_target`, which stays the source for new
environments. Every change is audited with the old and the new value."""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from costs.models import CostTarget
from platform_admin import audit
from platform_admin.models import Environment, Role
from platform_admin.roles import require

MAX_TARGET = Decimal("9999999999.99")


class TargetError(ValueError):
    """The target cannot be set as given; the message says why. Nothing changed."""


def parse_amount(text: str) -> Decimal | None:
    """ "1,250.50" -> Decimal("1250.50"); "" -> None (remove the override)."""
    text = (text or "").strip().replace(",", "")
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise TargetError(f"{text[:30]!r} is not an amount like 1250.00") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_TARGET:
        raise TargetError(f"a target is between 0 and {MAX_TARGET:,}")
    if amount != amount.quantize(Decimal("0.01")):
        raise TargetError(f"{text[:30]} has more than two decimals")
    return amount.quantize(Decimal("0.01"))


def set_target(user, environment: Environment, component: str, amount: Decimal | None):
    """Set (or with None remove) the target of the environment or one of its components."""
    require(user, Role.FINANCE, environment, action="change cost targets")
    component = (component or "").strip()
    if len(component) > 120:
        raise TargetError("a component name is at most 120 characters")
    with transaction.atomic():
        current = (
            CostTarget.objects.select_for_update()
            .filter(environment=environment, component=component)
            .first()
        )
        old = current.amount if current else (environment.monthly_target if not component else None)
        if amount is None:
            if current is None:
                return None
            current.delete()
            new = environment.monthly_target if not component else None
        else:
            current, _ = CostTarget.objects.update_or_create(
                environment=environment,
                component=component,
                defaults={"amount": amount, "updated_by": user},
            )
            new = amount
        if old != new:
            audit.record(
                "costs.target_updated",
                actor=user,
                obj=environment,
                environment=environment.slug,
                detail={
                    "component": component or "(environment)",
                    "old": None if old is None else str(old),
                    "new": None if new is None else str(new),
                    "source": "dashboard" if amount is not None else "platform file",
                },
            )
        return current if amount is not None else None
