"""Names the engine derives, so re-running a step never creates a second revision."""

import re
import uuid

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NAMESPACE = uuid.UUID("7b0c3f4e-2a51-4d8e-9a8f-3c1d2b4e5f60")


def revision_name(service: str, version: str, rollout_id: int) -> str:
    """`{service}-{version}-r{rollout}` as a valid DNS label of at most 63 characters."""
    suffix = f"-r{rollout_id}"
    slug = _NOT_DNS.sub("-", version.lower().replace(".", "-")).strip("-")
    slug = re.sub(r"-{2,}", "-", slug)
    head = f"{service}-{slug}"[: 63 - len(suffix)].rstrip("-")
    return f"{head}{suffix}"


def request_id(*parts) -> str:
    """A stable UUID for a Compute Engine request: the same step always sends the same id."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)))
