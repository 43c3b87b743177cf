"""What Slack is told about a rollout. Sent through `platform_admin.notifications`."""

from platform_admin import notifications

TEMPLATES = {
    "approval_needed": "⏳ {who} wants to deploy {release} to {env}: approval needed. {url}",
    "started": "🚀 Rollout of {release} to {env} started ({strategy}). {url}",
    "emergency": "🚨 {who} rolls {env} back to {release} without approval (emergency): "
    "{detail} {url}",
    "step": "➡️ {release} on {env}: {detail} {url}",
    "succeeded": "✅ {release} is live on {env}. {url}",
    "failed": "❌ Rollout of {release} to {env} failed: {detail} {url}",
    "errored": "💥 Rollout of {release} to {env} stopped on an internal error: {detail} {url}",
    "rolled_back": "↩️ {release} on {env} was rolled back: {detail} {url}",
    "aborted": "⏹️ Rollout of {release} to {env} aborted: {detail} {url}",
    "rejected": "🚫 Rollout of {release} to {env} rejected: {detail} {url}",
}


def rollout_text(rollout, kind: str, detail: str = "") -> str:
    return (
        TEMPLATES[kind]
        .format(
            who=rollout.started_by.username,
            release=rollout.release.version,
            env=rollout.environment.slug,
            strategy=rollout.get_strategy_display().lower(),
            detail=detail or rollout.message,
            url=notifications.link(rollout.get_absolute_url()),
        )
        .strip()
    )


def rollout_message(rollout, kind: str, detail: str = "") -> None:
    """Queue a Slack message about `rollout`, sent once the current transaction commits."""
    if rollout.environment.slack_webhook_env:
        notifications.notify(rollout.environment, rollout_text(rollout, kind, detail))
