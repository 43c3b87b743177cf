"""Drift: a Cloud Run service whose live split or image is not what the dashboard's last
rollout left there, changed by someone outside the dashboard (the console, gcloud).

What a rollout left is read from the audit trail (every rollout's end records its
traffic and images), so `monitoring` never asks `deployments`. While a rollout is under
way the split is its business; a service no rollout has touched has nothing to compare.
Each distinct drift is audited once.
"""

from monitoring.models import LiveKind, LiveService
from platform_admin import audit
from platform_admin.models import AuditEvent
from platform_admin.timeline import ROLLOUT_ENDED, ROLLOUT_STARTED

LOOK_BACK = 50  # rollout events searched for the last one that deployed a service


def expected_state(slug: str) -> dict[str, dict] | None:
    """{service: {"traffic": {revision: percent}, "image": ...}} as the rollouts left
    them, newest first per service; None while a rollout is under way."""
    events = (
        AuditEvent.objects.filter(environment=slug, action__in=ROLLOUT_STARTED + ROLLOUT_ENDED)
        .order_by("-id")
        .values_list("action", "object_id", "detail")[:LOOK_BACK]
    )
    ended: set[str] = set()
    out: dict[str, dict] = {}
    for action, rollout_id, detail in events:
        if action in ROLLOUT_STARTED:
            if rollout_id not in ended:
                return None  # started, not ended yet: a rollout is under way
            continue
        ended.add(rollout_id)
        detail = detail or {}
        for service, split in (detail.get("traffic") or {}).items():
            if service not in out and split:
                image = (detail.get("images") or {}).get(service, "")
                out[service] = {"traffic": split, "image": image}
    return out


def _split_words(split: dict[str, int]) -> str:
    return ", ".join(
        f"{pct}% on {rev}"
        for rev, pct in sorted(split.items(), key=lambda kv: (-kv[1], kv[0]))
        if pct
    )


def describe(live: LiveService, expected: dict) -> str:
    """The drift in words, "" when the live state is what the rollout left."""
    want = {rev: pct for rev, pct in expected["traffic"].items() if pct}
    have = live.split
    if have != want:
        changed = {rev: pct for rev, pct in have.items() if want.get(rev) != pct}
        return (
            f"{live.service}: {_split_words(changed or have)}, changed outside the dashboard "
            f"(the last rollout left {_split_words(want)})"
        )
    image = expected.get("image", "")
    if image and live.image and image != live.image:
        return (
            f"{live.service}: runs {live.image}, changed outside the dashboard "
            f"(the last rollout deployed {image})"
        )
    return ""


def check(environment) -> list[str]:
    """Update each Cloud Run service's drift sentence; audit each new drift once.
    Returns the sentences of the drifts found now."""
    expected = expected_state(environment.slug)
    if expected is None:  # a rollout is under way: keep what was said before it
        return []
    found = []
    for live in LiveService.objects.filter(environment=environment, kind=LiveKind.CLOUD_RUN):
        want = expected.get(live.service)
        drift = describe(live, want) if want else ""
        if drift != live.drift:  # new, changed or cleared ("": a recurrence is new again)
            if drift:
                audit.record(
                    "health.drift",
                    actor=None,
                    environment=environment.slug,
                    detail={"service": live.service, "drift": drift, "live": live.split},
                )
            live.drift = drift
            live.save(update_fields=["drift"])
        if drift:
            found.append(drift)
    return found
