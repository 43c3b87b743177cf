"""Slack messages about rollouts. Built here, sent by `jobs.send_notification` on commit.

The webhook URL lives in the environment variable named by `Environment.slack_webhook_env`
(never in the database); when that variable is unset the message is skipped silently.
"""

import json
import logging
import os
import urllib.request

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

TEMPLATES = {
    "approval_needed": "⏳ {who} wants to deploy {release} to {env}: approval needed. {url}",
    "started": "🚀 Rollout of {release} to {env} started ({strategy}). {url}",
    "step": "➡️ {release} on {env}: {detail} {url}",
    "succeeded": "✅ {release} is live on {env}. {url}",
    "failed": "❌ Rollout of {release} to {env} failed: {detail} {url}",
    "rolled_back": "↩️ {release} on {env} was rolled back: {detail} {url}",
    "aborted": "⏹️ Rollout of {release} to {env} aborted: {detail} {url}",
    "rejected": "🚫 Rollout of {release} to {env} rejected: {detail} {url}",
}


def rollout_text(rollout, kind: str, detail: str = "") -> str:
    base = settings.SITE_URL
    return (
        TEMPLATES[kind]
        .format(
            who=rollout.started_by.username,
            release=rollout.release.version,
            env=rollout.environment.slug,
            strategy=rollout.get_strategy_display().lower(),
            detail=detail or rollout.message,
            url=f"{base}{rollout.get_absolute_url()}",
        )
        .strip()
    )


def rollout_message(rollout, kind: str, detail: str = "") -> None:
    """Queue a Slack message about `rollout`, sent once the current transaction commits."""
    if not rollout.environment.slack_webhook_env:
        return
    from deployments import jobs

    text = rollout_text(rollout, kind, detail)
    env_id = rollout.environment_id
    transaction.on_commit(lambda: jobs.enqueue_notification(env_id, text))


def post_to_webhook(env_var: str, text: str, timeout: float = 5.0) -> bool:
    """POST `text` to the webhook in `env_var`; False when unset. Raises on a failed send."""
    url = os.environ.get(env_var, "") if env_var else ""
    if not url:
        return False
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{env_var} does not hold an http(s) URL")
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        if response.status >= 300:
            raise RuntimeError(f"Slack webhook answered HTTP {response.status}")
    return True
