"""Validation of release versions, image references, artifact services and free text.

Every pattern is matched whole with `fullmatch`: `$` also matches before a trailing
newline, which let "1.5.0\\n" in beside 1.5.0 as a look-alike release.
"""

import re
from decimal import Decimal

from django.core.exceptions import ValidationError

from platform_admin.models import DEPLOYABLE_KINDS, Service, ServiceKind

# The database columns' lengths (deployments.models), checked before they are reached.
VERSION_MAX = 64
SERVICE_NAME_MAX = 63
IMAGE_MAX = 300
NOTES_MAX = 10_000
REASON_MAX = 1_000

# https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string
SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)

# REGISTRY[:port]/PATH[:tag]@sha256:<64 lowercase hex>. The tag is informational; the
# digest is what Cloud Run pulls, so a release can never drift.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_DIGEST_RE = re.compile(
    rf"(?P<registry>[a-zA-Z0-9.-]+(?::\d+)?)"
    rf"(?P<path>(?:/{_COMPONENT})+)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"@sha256:(?P<digest>[0-9a-f]{64})"
)


# A static site's build: a Cloud Storage prefix holding the files and their manifest.json.
BUILD_PREFIX_RE = re.compile(
    r"gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,61}[a-z0-9])/(?P<prefix>(?:[A-Za-z0-9._+-]+/)+)"
)


def _shown(value, limit: int = 80) -> str:
    """A value quoted for a message, cut short: an error never echoes a megabyte."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_semver(value: str) -> None:
    """A semantic version of at most VERSION_MAX characters, nothing around it."""
    if isinstance(value, str) and len(value) > VERSION_MAX:
        raise ValidationError(
            "A version has at most %(max)d characters (this one has %(length)d).",
            code="semver_length",
            params={"max": VERSION_MAX, "length": len(value)},
        )
    if not isinstance(value, str) or not SEMVER_RE.fullmatch(value):
        raise ValidationError(
            "%(value)s is not a semantic version (expected e.g. 1.4.0 or 2.0.0-rc.1).",
            code="semver",
            params={"value": _shown(value)},
        )


def _check_artifact_length(value, what: str) -> None:
    if isinstance(value, str) and len(value) > IMAGE_MAX:
        raise ValidationError(
            f"{what} has at most %(max)d characters (this one has %(length)d).",
            code="artifact_length",
            params={"max": IMAGE_MAX, "length": len(value)},
        )


def validate_image_digest(value: str) -> None:
    """An image pinned by digest, at most IMAGE_MAX characters."""
    _check_artifact_length(value, "An image reference")
    if not isinstance(value, str) or not IMAGE_DIGEST_RE.fullmatch(value):
        raise ValidationError(
            "%(value)s is not pinned by digest (expected REGISTRY/PATH@sha256:<64 hex>).",
            code="image_digest",
            params={"value": _shown(value)},
        )


def validate_build_prefix(value: str) -> None:
    """A static site's build: gs://BUCKET/PATH/ (with its manifest.json there)."""
    _check_artifact_length(value, "A build reference")
    if not isinstance(value, str) or not BUILD_PREFIX_RE.fullmatch(value):
        raise ValidationError(
            "%(value)s is not a build (expected a Cloud Storage prefix such as "
            "gs://BUCKET/frontend/builds/1.5.0/, ending in /).",
            code="build_prefix",
            params={"value": _shown(value)},
        )


def validate_artifact(service_name: str, value: str, is_site: bool | None = None) -> None:
    """A Cloud Run or VM service's image pinned by digest; a static site's build.
    `is_site` when the caller knows (else the platform's services say)."""
    if is_site is None:
        is_site = service_name in static_site_names()
    if is_site:
        validate_build_prefix(value)
    else:
        validate_image_digest(value)


def text_error(value, label: str, limit: int) -> str | None:
    """Why `value` cannot be stored as free text (notes, a reason), or None if it can:
    not a string, longer than `limit`, or holding a NUL or a lone surrogate, which
    PostgreSQL (and UTF-8) cannot store."""
    if not isinstance(value, str):
        return f"{label} must be text."
    if len(value) > limit:
        return f"{label} may be at most {limit:,} characters (got {len(value):,})."
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        return f"{label} contains a NUL character or an unpaired surrogate; remove it."
    return None


def validate_notes(value: str) -> None:
    """Release notes: text of at most NOTES_MAX characters."""
    error = text_error(value, "Notes", NOTES_MAX)
    if error:
        raise ValidationError(error, code="notes")


def validate_reason(value: str) -> None:
    """A reason (reject, abort, rollback): text of at most REASON_MAX characters."""
    error = text_error(value, "The reason", REASON_MAX)
    if error:
        raise ValidationError(error, code="reason")


def deployable_service_names() -> list[str]:
    """Every deployable service name across environments, in platform-file order: the
    names a release's artifacts may carry."""
    rows = Service.objects.filter(kind__in=DEPLOYABLE_KINDS).order_by("position", "name")
    return list(dict.fromkeys(rows.values_list("name", flat=True)))


def static_site_names() -> list[str]:
    """The static sites among the deployable services: their artifact is a build."""
    rows = Service.objects.filter(kind=ServiceKind.STATIC_SITE)
    return list(dict.fromkeys(rows.values_list("name", flat=True)))


def artifact_service_errors(names) -> list[str]:
    """Sentences for artifact service names that are not a deployable service of the
    platform, or for more artifacts than the platform has such services."""
    allowed = deployable_service_names()
    choices = ", ".join(allowed) or "none (sync the platform file first)"
    names = list(names)
    if len(names) > len(allowed):
        return [
            f"artifacts: a release carries at most {len(allowed)} services, one per "
            f"deployable service ({choices}); got {len(names)}."
        ]
    unknown = [name for name in names if name not in allowed]
    if not unknown:
        return []
    shown = ", ".join(_shown(name, 70) for name in unknown)
    return [f"artifacts: {shown} is not a deployable service of the platform; use {choices}."]


def semver_key(version: str) -> tuple:
    """Sort key for semantic versions: pre-releases before the release, numbers numerically."""
    match = SEMVER_RE.fullmatch(version)
    if not match:
        return (0, 0, 0, 0, ())
    major, minor, patch, pre = int(match[1]), int(match[2]), int(match[3]), match[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, parts)


# --- Cloud Run resources a release may carry ------------------------------------------

RESOURCE_KEYS = ("cpu", "memory_gib", "min_instances", "max_instances", "concurrency")
_WHOLE_LIMITS = {"min_instances": (0, 1000), "max_instances": (1, 1000), "concurrency": (1, 1000)}


def cloud_run_service_names() -> list[str]:
    rows = Service.objects.filter(kind=ServiceKind.CLOUD_RUN)
    return list(dict.fromkeys(rows.values_list("name", flat=True)))


def _number(value, label: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationError(f"{label}: {_shown(value)} is not a number.")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValidationError(f"{label}: {_shown(value)} is not a number.") from None
    if not number.is_finite():
        raise ValidationError(f"{label}: {_shown(value)} is not a number.")
    return number


def clean_resources(name: str, resources) -> dict:
    """A Cloud Run service's resources as a release carries them, normalised for storage
    ({"cpu": "2", "memory_gib": "4", "min_instances": 1, ...}); ValidationError with one
    sentence per problem (Cloud Run's own limits: 1, 2, 4, 6 or 8 vCPU, or under 1;
    128 MiB to 32 GiB; instance counts and concurrency 0/1 to 1000)."""
    where = f"resources.{name}"
    if not isinstance(resources, dict) or not resources:
        raise ValidationError(
            f"{where}: give a table of {', '.join(RESOURCE_KEYS)} (e.g. memory_gib = 4)."
        )
    unknown = sorted(set(resources) - set(RESOURCE_KEYS))
    if unknown:
        raise ValidationError(
            f"{where}: {', '.join(_shown(k, 40) for k in unknown)} is not a resource; "
            f"use {', '.join(RESOURCE_KEYS)}."
        )
    out, errors = {}, []
    for key in RESOURCE_KEYS:
        if key not in resources:
            continue
        label = f"{where}.{key}"
        try:
            number = _number(resources[key], label)
            if key == "cpu":
                if not (Decimal("0.08") <= number <= 8) or (
                    number > 1 and number not in (2, 4, 6, 8)
                ):
                    raise ValidationError(
                        f"{label}: {number} vCPU is not one Cloud Run allows "
                        "(1, 2, 4, 6 or 8, or a fraction from 0.08)."
                    )
                out[key] = format(number.normalize(), "f")
            elif key == "memory_gib":
                if not (Decimal("0.125") <= number <= 32):
                    raise ValidationError(
                        f"{label}: {number} GiB is outside Cloud Run's 0.125–32 GiB."
                    )
                out[key] = format(number.normalize(), "f")
            else:
                low, high = _WHOLE_LIMITS[key]
                if number != number.to_integral_value() or not low <= number <= high:
                    raise ValidationError(f"{label}: {number} is not a whole number {low}–{high}.")
                out[key] = int(number)
        except ValidationError as exc:
            errors += exc.messages
    if not errors and out.get("min_instances", 0) > out.get("max_instances", 1000):
        errors.append(
            f"{where}: min_instances {out['min_instances']} is above max_instances "
            f"{out['max_instances']}."
        )
    if errors:
        raise ValidationError(errors)
    return out


def memory_quantity(gib) -> str:
    """Cloud Run's memory limit for a size in GiB: "4Gi", or "512Mi" for a fraction."""
    number = Decimal(str(gib))
    if number == number.to_integral_value():
        return f"{int(number)}Gi"
    return f"{int(number * 1024)}Mi"
