from django import template

from deployments.models import RolloutState

register = template.Library()

# The one place that maps rollout states to badge colours.
STATE_BADGES = {
    RolloutState.PENDING_APPROVAL: "badge-warn",
    RolloutState.QUEUED: "badge-info",
    RolloutState.DEPLOYING: "badge-info",
    RolloutState.CANARY: "badge-info",
    RolloutState.VERIFYING: "badge-info",
    RolloutState.PAUSED: "badge-warn",
    RolloutState.SUCCEEDED: "badge-ok",
    RolloutState.FAILED: "badge-bad",
    RolloutState.ERRORED: "badge-bad",
    RolloutState.ROLLING_BACK: "badge-warn",
    RolloutState.ROLLED_BACK: "badge-bad",
    RolloutState.ABORTED: "badge-bad",
    RolloutState.REJECTED: "badge-bad",
}


@register.filter
def state_badge(state: str) -> str:
    return STATE_BADGES.get(state, "")


@register.filter
def percent(rate) -> str:
    """0.0312 → '3.12%' (analysis numbers are fractions)."""
    if rate in (None, ""):
        return "—"
    return f"{float(rate) * 100:.2f}%"


@register.filter
def token_status(token, now) -> str:
    """active | expired | revoked"""
    return token.status(now)
