"""The team's own plan (the platform file's [environments.plan]) beside our estimate and
the bill, and the gaps between them, in words: plan components that do not add up to the
plan's stated total, an estimate outside the plan, the month's actual (a closed month) or
forecast (the open month) outside the estimate range."""

from dataclasses import dataclass
from decimal import Decimal

from costs.estimate import EnvironmentEstimate, amount


@dataclass
class PlanLine:
    name: str
    services: list[str]
    low: Decimal
    high: Decimal
    estimate: tuple[Decimal, Decimal] | None  # ours for the same services
    gap: str = ""


def _range(pair) -> tuple[Decimal, Decimal]:
    return Decimal(pair[0]), Decimal(pair[1])


def money_range(low: Decimal, high: Decimal) -> str:
    return f"${amount(low)}" if amount(low) == amount(high) else f"${amount(low)}–{amount(high)}"


def _outside(inner: tuple[Decimal, Decimal], outer: tuple[Decimal, Decimal]) -> str:
    """ "above" / "below" when the ranges do not overlap, else ""."""
    if inner[0] > outer[1]:
        return "above"
    if inner[1] < outer[0]:
        return "below"
    return ""


def plan_lines(estimate: EnvironmentEstimate) -> list[PlanLine]:
    plan = estimate.environment.cost_plan or {}
    lines = []
    for component in plan.get("components", []):
        low, high = _range(component["cost"])
        names = component.get("services") or []
        ours = estimate.of(names) if names else None
        line = PlanLine(component["name"], names, low, high, ours)
        side = _outside(ours, (low, high)) if ours else ""
        if side:
            line.gap = (
                f"our estimate {money_range(*ours)} is {side} the plan's {money_range(low, high)}"
            )
        lines.append(line)
    return lines


def gaps(estimate: EnvironmentEstimate, month_net: Decimal | None, closed: bool) -> list[str]:
    """The environment's gaps, one sentence each."""
    env = estimate.environment
    plan = env.cost_plan or {}
    out = []
    ours = (estimate.low, estimate.high)
    if plan.get("total"):
        total = _range(plan["total"])
        parts = [_range(c["cost"]) for c in plan.get("components", [])]
        if parts:
            summed = (sum(p[0] for p in parts), sum(p[1] for p in parts))
            if summed != total:
                out.append(
                    f"{env.name}: the plan's components sum to {money_range(*summed)}, "
                    f"not its stated total {money_range(*total)}"
                )
        side = _outside(ours, total)
        if side:
            out.append(
                f"{env.name}: our estimate {money_range(*ours)} is {side} the plan's total "
                f"{money_range(*total)}"
            )
    out += [f"{env.name}, {line.name}: {line.gap}" for line in plan_lines(estimate) if line.gap]
    if month_net is not None and month_net > 0:
        side = _outside((month_net, month_net), ours)
        if side and (closed or side == "above"):
            what = "the month's actual" if closed else "the month's forecast"
            out.append(
                f"{env.name}: {what} ${amount(month_net)} is {side} our estimate "
                f"{money_range(*ours)}"
            )
    return out
