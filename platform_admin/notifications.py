"""Slack notifications for the whole platform: rollouts now, budget and burn-rate alerts next.

`notify(environment, text)` queues a message for the environment's Slack channel, sent by
the `send` job once the current transaction commits, with RQ retries. The webhook URL
lives in the environment variable named by `Environment.slack_webhook_env` (never in the
database); an environment that names none sends nothing.
"""

import json
import logging
import os
import urllib.request

import django_rq
from django.conf import settings
from django.db import transaction
from rq import Retry

from platform_admin.models import Environment

log = logging.getLogger(__name__)

QUEUE = "default"  # never the deploy queue: a slow webhook must not hold a rollout's thread
RETRY = Retry(max=3, interval=[1, 5, 30])


def link(path: str) -> str:
    """An absolute link to a dashboard page for a message (settings.SITE_URL + path)."""
    return f"{settings.SITE_URL}{path}"


def notify(environment: Environment, text: str) -> None:
    """Queue `text` for `environment`'s channel, sent once the current transaction commits."""
    if not environment.slack_webhook_env:
        return
    env_id = environment.pk
    transaction.on_commit(lambda: enqueue(env_id, text))


def enqueue(environment_id: int, text: str) -> None:
    django_rq.get_queue(QUEUE, commit_mode="auto").enqueue(send, environment_id, text, retry=RETRY)


def send(environment_id: int, text: str) -> bool:
    """The job: post to the environment's webhook; False when it names none or is gone."""
    env = Environment.objects.filter(pk=environment_id).first()
    if env is None:
        return False
    return post_to_webhook(env.slack_webhook_env, text)


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
