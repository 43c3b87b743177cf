"""Validation of release versions and image references."""

import re

from django.core.exceptions import ValidationError

# https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

# REGISTRY[:port]/PATH[:tag]@sha256:<64 lowercase hex>. The tag is informational; the
# digest is what Cloud Run pulls, so a release can never drift.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_DIGEST_RE = re.compile(
    rf"^(?P<registry>[a-zA-Z0-9.-]+(?::\d+)?)"
    rf"(?P<path>(?:/{_COMPONENT})+)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"@sha256:(?P<digest>[0-9a-f]{64})$"
)


def validate_semver(value: str) -> None:
    if not SEMVER_RE.match(value or ""):
        raise ValidationError(
            "%(value)s is not a semantic version (expected e.g. 1.4.0 or 2.0.0-rc.1).",
            code="semver",
            params={"value": repr(value)},
        )


def validate_image_digest(value: str) -> None:
    if not IMAGE_DIGEST_RE.match(value or ""):
        raise ValidationError(
            "%(value)s is not pinned by digest (expected REGISTRY/PATH@sha256:<64 hex>).",
            code="image_digest",
            params={"value": repr(value)},
        )


def semver_key(version: str) -> tuple:
    """Sort key for semantic versions: pre-releases before the release, numbers numerically."""
    match = SEMVER_RE.match(version)
    if not match:
        return (0, 0, 0, 0, ())
    major, minor, patch, pre = int(match[1]), int(match[2]), int(match[3]), match[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, parts)
