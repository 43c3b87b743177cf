"""The platform's timeline, read from the audit trail: every rollout is recorded there with
its environment and time, so pages of apps below `deployments` (a health chart with deploy
markers, a cost chart with rollouts) show rollouts without importing it."""

from dataclasses import dataclass
from datetime import datetime

from platform_admin.models import AuditEvent

# The audit actions that mark a rollout's start and its end.
ROLLOUT_STARTED = ("rollout.started", "rollout.rollback_started")
ROLLOUT_ENDED = (
    "rollout.succeeded",
    "rollout.failed",
    "rollout.errored",
    "rollout.rolled_back",
    "rollout.aborted",
    "rollout.rejected",
)


_WHAT = {"rollout.started": "started", "rollout.rollback_started": "rollback started"}


@dataclass(frozen=True)
class RolloutMark:
    time: datetime
    environment: str
    rollout_id: str
    release: str
    what: str  # "started", "succeeded", "rolled_back", ...
    actor: str


def rollout_marks(
    environments: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[RolloutMark]:
    """Rollouts starting and ending, newest first, in the given environments and window."""
    events = AuditEvent.objects.filter(action__in=ROLLOUT_STARTED + ROLLOUT_ENDED)
    if environments is not None:
        events = events.filter(environment__in=environments)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    rows = events.order_by("-id").values_list(
        "created_at", "environment", "object_id", "detail", "action", "actor"
    )[:limit]
    return [
        RolloutMark(
            time=created_at,
            environment=environment,
            rollout_id=object_id,
            release=(detail or {}).get("release", ""),
            what=_WHAT.get(action, action.removeprefix("rollout.")),
            actor=actor,
        )
        for created_at, environment, object_id, detail, action, actor in rows
    ]


def digest(image: str) -> str:
    """The sha256 digest of an image reference (the reference itself without one)."""
    return image.rsplit("@", 1)[-1] if "@" in image else image


def release_images() -> dict[str, str]:
    """{image digest (or reference): release version} of every release registered, read
    from the audit trail ("release.created" records each release's artifacts), so pages
    below `deployments` can name the release an image belongs to. One query."""
    out: dict[str, str] = {}
    events = AuditEvent.objects.filter(action="release.created").order_by("id")
    for version, detail in events.values_list("object_repr", "detail"):
        for image in ((detail or {}).get("artifacts") or {}).values():
            out[digest(image)] = version
    return out


def release_of(image: str, images: dict[str, str]) -> str:
    """The release version `image` belongs to, "" when no release carries it."""
    return images.get(digest(image), "") if image else ""
