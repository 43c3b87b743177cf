"""Monthly targets finance sets in the dashboard (per environment, or per component of
one), overriding the platform file's `monthly_target`, which stays the source for new
environments. Every change is audited with the old and the new value."""

from decimal import Decimal

from django.db import transaction

from costs.models import CostDaily, CostTarget
from costs.money import written_amount
from platform_admin import audit
from platform_admin.models import Environment, Role
from platform_admin.roles import require

MAX_TARGET = Decimal("9999999999.99")


class TargetError(ValueError):
    """The target cannot be set as given; the message says why. Nothing changed."""


def parse_amount(text: str) -> Decimal | None:
    """ "1,250.50" -> Decimal("1250.50"); "" -> None (remove the override)."""
    text = (text or "").strip()
    if not text:
        return None
    amount = written_amount(text)
    if amount is None:
        comma = " (a comma only separates thousands: 1,250.00)" if "," in text else ""
        raise TargetError(f"{text[:30]!r} is not an amount like 1250.00{comma}")
    if amount < 0 or amount > MAX_TARGET:
        raise TargetError(f"a target is between 0 and {MAX_TARGET:,}")
    if amount != amount.quantize(Decimal("0.01")):
        raise TargetError(f"{text[:30]} has more than two decimals")
    return amount.quantize(Decimal("0.01")) + 0  # + 0: "-0" is 0.00


def _check_component(environment: Environment, component: str) -> None:
    """A component target is for one of the environment's services, or a component its
    costs are counted under (a GCP service): a name of neither would be a target no figure
    is ever compared with."""
    services = sorted(environment.services.values_list("name", flat=True))
    if component in services:
        return
    if CostDaily.objects.filter(environment=environment, component=component).exists():
        return
    raise TargetError(
        f"{environment.name} has no component {component[:60]!r}: its services are "
        f"{', '.join(services) or '(none)'}, and no cost of it is counted under that name"
    )


def set_target(user, environment: Environment, component: str, amount: Decimal | None) -> bool:
    """Set (or with None remove) the target of the environment or one of its components;
    False if that changed nothing (no target to remove)."""
    require(user, Role.FINANCE, environment, action="change cost targets")
    component = (component or "").strip()
    if len(component) > 120:
        raise TargetError("a component name is at most 120 characters")
    if component and amount is not None:
        _check_component(environment, component)
    with transaction.atomic():
        current = (
            CostTarget.objects.select_for_update()
            .filter(environment=environment, component=component)
            .first()
        )
        old = current.amount if current else (environment.monthly_target if not component else None)
        had_override = current is not None
        if amount is None:
            if current is None:
                return False
            current.delete()
            new = environment.monthly_target if not component else None
        else:
            current, _ = CostTarget.objects.update_or_create(
                environment=environment,
                component=component,
                defaults={"amount": amount, "updated_by": user},
            )
            new = amount
        if old != new or (amount is not None) != had_override:  # its value, or its source
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
        return True
