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

    @property
    def cost(self) -> tuple[Decimal, Decimal]:
        return self.low, self.high


def _range(pair) -> tuple[Decimal, Decimal]:
    return Decimal(pair[0]), Decimal(pair[1])


def money_range(low: Decimal, high: Decimal, currency: str) -> str:
    """ "$340.00–418.00" (one figure when they round alike), "340.00 EUR" elsewhere."""
    body = amount(low) if amount(low) == amount(high) else f"{amount(low)}–{amount(high)}"
    return f"${body}" if currency == "USD" else f"{body} {currency}"


def _outside(inner: tuple[Decimal, Decimal], outer: tuple[Decimal, Decimal]) -> str:
    """ "above" / "below" when the ranges do not overlap, else ""."""
    if inner[0] > outer[1]:
        return "above"
    if inner[1] < outer[0]:
        return "below"
    return ""


def plan_lines(estimate: EnvironmentEstimate) -> list[PlanLine]:
    plan = estimate.environment.cost_plan or {}
    currency = estimate.snapshot.currency
    lines = []
    for component in plan.get("components", []):
        low, high = _range(component["cost"])
        names = component.get("services") or []
        ours = estimate.of(names) if names else None
        line = PlanLine(component["name"], names, low, high, ours)
        side = _outside(ours, (low, high)) if ours else ""
        if side:
            line.gap = (
                f"our estimate {money_range(*ours, currency)} is {side} the plan's "
                f"{money_range(low, high, currency)}"
            )
        lines.append(line)
    return lines


def gaps(estimate: EnvironmentEstimate, month_net: Decimal | None, closed: bool) -> list[str]:
    """The environment's gaps, one sentence each."""
    env = estimate.environment
    plan = env.cost_plan or {}
    currency = estimate.snapshot.currency
    out = []
    ours = (estimate.low, estimate.high)
    if plan.get("total"):
        total = _range(plan["total"])
        parts = [_range(c["cost"]) for c in plan.get("components", [])]
        if parts:
            summed = (sum(p[0] for p in parts), sum(p[1] for p in parts))
            if summed != total:
                out.append(
                    f"{env.name}: the plan's components sum to "
                    f"{money_range(*summed, currency)}, not its stated total "
                    f"{money_range(*total, currency)}"
                )
        side = _outside(ours, total)
        if side:
            out.append(
                f"{env.name}: our estimate {money_range(*ours, currency)} is {side} the "
                f"plan's total {money_range(*total, currency)}"
            )
    out += [f"{env.name}, {line.name}: {line.gap}" for line in plan_lines(estimate) if line.gap]
    if month_net is not None and month_net > 0:
        side = _outside((month_net, month_net), ours)
        if side and (closed or side == "above"):
            what = "the month's actual" if closed else "the month's forecast"
            out.append(
                f"{env.name}: {what} {money_range(month_net, month_net, currency)} is {side} "
                f"our estimate {money_range(*ours, currency)}"
            )
    return out
