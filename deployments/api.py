"""The CI API at /api/v1/ (django-ninja): bearer tokens, the same service functions as
the pages, JSON errors with the right status. OpenAPI at /api/v1/openapi.json, docs at
/api/v1/docs."""

import functools
import json
from typing import Annotated

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from ninja import Field, NinjaAPI, Schema, Status, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from pydantic import StringConstraints

from deployments import services
from deployments.errors import DeploymentError
from deployments.models import CONTROL_SCOPES, Release, Rollout, TokenScope
from deployments.tokens import TokenRefused, require_scope, token_for
from deployments.validators import (
    IMAGE_MAX,
    NOTES_MAX,
    REASON_MAX,
    SERVICE_NAME_MAX,
    VERSION_MAX,
    text_error,
)
from platform_admin.models import Environment


class BearerToken(HttpBearer):
    """The request's token, checked (TokenRefused: 401 with the reason); its user becomes
    `request.user` and the token `request.api_token`, whose scopes each endpoint checks."""

    def authenticate(self, request, token):
        row = token_for(token)
        request.user, request.api_token = row.user, row
        return row.user


api = NinjaAPI(
    title="platform-admin API",
    version="1",
    urls_namespace="api",
    auth=BearerToken(),
    description="Releases and rollouts for CI. Send `Authorization: Bearer <token>` "
    "(`python manage.py create_api_token USERNAME`).",
    # Swagger UI from ninja's own static files ("ninja" in INSTALLED_APPS), never a CDN,
    # and no call to the public validator: the page works offline and under the CSP.
    docs=Swagger(settings={"validatorUrl": None}),
    # The docs and the schema are for people signed in to the dashboard (see `urls()`).
    docs_decorator=login_required,
)


class ErrorOut(Schema):
    message: str


# The columns' lengths, so a longer value is a 400 with a sentence, never a database error;
# the service functions check the same limits (deployments.validators) for every caller.
Version = Annotated[str, StringConstraints(max_length=VERSION_MAX)]
Notes = Annotated[str, StringConstraints(max_length=NOTES_MAX)]
Artifacts = dict[
    Annotated[str, StringConstraints(max_length=SERVICE_NAME_MAX)],
    Annotated[str, StringConstraints(max_length=IMAGE_MAX)],
]


# Per Cloud Run service: cpu, memory_gib, min_instances, max_instances, concurrency.
Resources = dict[
    Annotated[str, StringConstraints(max_length=SERVICE_NAME_MAX)],
    dict[Annotated[str, StringConstraints(max_length=40)], int | float | str],
]


class ReleaseIn(Schema):
    version: Version
    notes: Notes = ""
    artifacts: Artifacts
    resources: Resources = Field(
        {},
        description='What a Cloud Run service\'s new revision runs with: {"agent": '
        '{"memory_gib": 4, "cpu": 2, "min_instances": 1, "max_instances": 10, '
        '"concurrency": 10}} (any of them).',
    )


class ReleasePatch(Schema):
    notes: Notes | None = None
    artifacts: Artifacts | None = None
    resources: Resources | None = None


class ActionIn(Schema):
    """The optional body of a control (documentation: `_optional_body` reads it)."""

    reason: str = Field(
        "",
        max_length=REASON_MAX,
        description="Why; required to reject, and to approve a rollout into an environment "
        "that blocks rollouts while its forecast is over its target (the budget override, "
        "audited; without it such an approval is 422).",
    )


class RollbackIn(Schema):
    """The optional body of a rollback (documentation: `_optional_body` reads it)."""

    release: str = Field("", max_length=VERSION_MAX, description="Default: the one before.")
    emergency: bool = Field(False, description="Skip the approval wait; needs a reason.")
    reason: str = Field("", max_length=REASON_MAX)


class ReleaseOut(Schema):
    version: str
    notes: str
    artifacts: dict[str, str]
    resources: dict[str, dict]
    url: str


class RolloutIn(Schema):
    release: Version
    environment: str = Field(max_length=40)
    strategy: str = Field("", max_length=16)
    budget_override_reason: str = Field(
        "",
        max_length=REASON_MAX,
        description="Where the environment blocks rollouts over budget and the month's "
        "forecast is over its target: why this one goes anyway. Needs the approver role "
        "there and a token with the approve scope; audited. Without it such a start is 422.",
    )


class RolloutCreated(Schema):
    id: int
    state: str
    url: str


class EventOut(Schema):
    time: str
    kind: str
    message: str
    data: dict


class RolloutOut(Schema):
    id: int
    state: str
    kind: str
    strategy: str
    release: str
    environment: str
    step: int
    steps: list[int]
    percent: int | None
    message: str
    traffic: dict[str, dict[str, int]]
    url: str
    events: list[EventOut]


def _error(request, message: str, status: int):
    return api.create_response(request, {"message": message}, status=status)


@api.exception_handler(DeploymentError)
def _deployment_error(request, exc):
    return _error(request, exc.message, exc.status)


@api.exception_handler(PermissionDenied)
def _permission_denied(request, exc):
    return _error(request, str(exc) or "Permission denied.", 403)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, str(exc) or "Not found.", 404)


def _cut(text: str, limit: int = 60) -> str:
    """Part of a message quoting the caller's input: never a megabyte echoed back."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc):
    parts = []
    for err in exc.errors[:10]:  # a 1,000-entry body need not list 1,000 complaints
        loc = [_cut(str(p)) for p in err.get("loc", ()) if p not in ("body", "payload")]
        parts.append(f"{'.'.join(loc) or 'body'}: {err.get('msg', 'invalid')}")
    return _error(request, "Invalid request: " + "; ".join(parts), 400)


@api.exception_handler(HttpError)
def _http_error(request, exc):
    """ninja's own refusals (a body it cannot parse) in our shape, `{"message": ...}`."""
    message = str(exc)
    if message.startswith("Cannot parse request body"):
        message = "The request body is not valid JSON."
    return _error(request, message, exc.status_code)


@api.exception_handler(TokenRefused)
def _token_refused(request, exc):
    return _error(request, exc.message, 401)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(request, "Send a valid API token: Authorization: Bearer <token>.", 401)


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path)


def rollout_json(request, rollout: Rollout) -> dict:
    steps = rollout.steps or [100]
    return {
        "id": rollout.pk,
        "state": rollout.state,
        "kind": rollout.kind,
        "strategy": rollout.strategy,
        "release": rollout.release.version,
        "environment": rollout.environment.slug,
        "step": rollout.step,
        "steps": steps,
        "percent": rollout.current_percent,
        "message": rollout.message,
        "traffic": rollout.traffic,
        "url": _absolute(request, rollout.get_absolute_url()),
        "events": [
            {"time": e.created_at.isoformat(), "kind": e.kind, "message": e.message, "data": e.data}
            for e in rollout.events.all()
        ],
    }


def _optional_body(request) -> dict:
    """Action and rollback bodies are optional: CI often POSTs nothing."""
    if request.content_type != "application/json" or not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError) as exc:
        raise DeploymentError("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise DeploymentError("The request body must be a JSON object.")
    _check_optional_fields(body)
    return body


def _check_optional_fields(body: dict) -> None:
    """The optional bodies' fields (ActionIn, RollbackIn): a wrong type or length is a 400
    with a sentence, not a reason of "None" or a list written to the audit trail."""
    if not isinstance(body.get("emergency", False), bool):
        raise DeploymentError("emergency must be true or false.")
    for key, label, limit in (
        ("reason", "The reason", REASON_MAX),
        ("release", "release", VERSION_MAX),
    ):
        error = text_error(body.get(key, ""), label, limit)
        if error:
            raise DeploymentError(error)


def _rollout(pk: int) -> Rollout:
    return get_object_or_404(Rollout.objects.select_related("release", "environment"), pk=pk)


@api.post("/releases", response={201: ReleaseOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut})
def create_release(request, payload: ReleaseIn):
    require_scope(request.api_token, TokenScope.RELEASES)
    release = services.create_release(
        request.user,
        payload.version,
        payload.artifacts,
        notes=payload.notes,
        resources=payload.resources,
    )
    return Status(201, _release_json(request, release))


@api.patch(
    "/releases/{version}",
    response={200: ReleaseOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
)
def update_release(request, version: str, payload: ReleasePatch):
    """Correct a release's notes or images; refused (409) once any rollout has used it."""
    require_scope(request.api_token, TokenScope.RELEASES)
    release = get_object_or_404(Release, version=version)
    release = services.update_release(
        request.user,
        release,
        notes=payload.notes,
        artifacts=payload.artifacts,
        resources=payload.resources,
    )
    return Status(200, _release_json(request, release))


def _release_json(request, release: Release) -> dict:
    return {
        "version": release.version,
        "notes": release.notes,
        "artifacts": release.images(),
        "resources": release.resources(),
        "url": _absolute(request, release.get_absolute_url()),
    }


@api.post(
    "/rollouts",
    response={202: RolloutCreated, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def start_rollout(request, payload: RolloutIn):
    release = Release.objects.filter(version=payload.release).first()
    environment = Environment.objects.filter(slug=payload.environment).first()
    if release is None:
        raise DeploymentError(f"No release {payload.release!r}; register it first.")
    if environment is None:
        raise DeploymentError(f"No environment {payload.environment!r}.")
    require_scope(request.api_token, TokenScope.DEPLOY, environment)
    if payload.budget_override_reason.strip():  # an approver's act: the token must allow it
        require_scope(request.api_token, TokenScope.APPROVE, environment)
    rollout = services.start_rollout(
        request.user,
        release,
        environment,
        payload.strategy,
        budget_override=payload.budget_override_reason,
    )
    return Status(
        202,
        {
            "id": rollout.pk,
            "state": rollout.state,
            "url": _absolute(request, rollout.get_absolute_url()),
        },
    )


@api.get("/rollouts/{rollout_id}", response={200: RolloutOut, 404: ErrorOut})
def get_rollout(request, rollout_id: int):
    return Status(200, rollout_json(request, _rollout(rollout_id)))


def _optional_body_doc(schema: type[Schema]) -> dict:
    """The OpenAPI entry of an optional JSON body, which `_optional_body` reads."""
    content = {"application/json": {"schema": schema.model_json_schema()}}
    return {"requestBody": {"required": False, "content": content}}


def _action_endpoint(action: str):
    def endpoint(request, rollout_id: int):
        reason = str(_optional_body(request).get("reason", ""))
        rollout = _rollout(rollout_id)
        require_scope(request.api_token, CONTROL_SCOPES[action], rollout.environment)
        services.apply_action(request.user, rollout, action, reason)
        return Status(200, rollout_json(request, _rollout(rollout_id)))

    endpoint.__name__ = f"{action}_rollout"
    return endpoint


for _action in services.CONTROLS:
    api.post(
        f"/rollouts/{{rollout_id}}/{_action}",
        response={200: RolloutOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
        summary=f"{_action.capitalize()} a rollout",
        openapi_extra=_optional_body_doc(ActionIn),
    )(_action_endpoint(_action))


@api.post(
    "/environments/{slug}/rollback",
    response={202: RolloutCreated, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    openapi_extra=_optional_body_doc(RollbackIn),
)
def rollback(request, slug: str):
    environment = get_object_or_404(Environment, slug=slug)
    require_scope(request.api_token, TokenScope.ROLLBACK, environment)
    body = _optional_body(request)
    rollout = services.rollback(
        request.user,
        environment,
        str(body.get("release", "")),
        emergency=body.get("emergency") is True,
        reason=str(body.get("reason", "")),
    )
    return Status(
        202,
        {
            "id": rollout.pk,
            "state": rollout.state,
            "url": _absolute(request, rollout.get_absolute_url()),
        },
    )


# What no endpoint serves, behind the token like the rest (401 first), then a JSON 404
# naming the path. `urls()` puts the catch-all last, wherever an endpoint is declared.
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
CATCH_ALL = "no-such-endpoint"


@api.api_operation(_ALL_METHODS, "/", include_in_schema=False)
def no_such_endpoint_root(request):
    """The API's root is no endpoint either (the docs are at /api/v1/docs)."""
    return no_such_endpoint(request, "")


@api.api_operation(_ALL_METHODS, "/{path:path}", include_in_schema=False, url_name=CATCH_ALL)
def no_such_endpoint(request, path: str):
    """Every path under /api/v1/ that no endpoint serves: a JSON 404 naming it."""
    return _error(request, f"No such API endpoint: {request.method} {_cut(request.path, 200)}", 404)


def urls():
    """The API's URL patterns, exempt from LoginRequiredMiddleware (tokens, not sessions),
    except the docs page and openapi.json, which need a dashboard session."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if pattern.name not in SESSION_VIEWS:
            pattern.callback.login_required = False
    patterns = sorted(patterns, key=lambda pattern: pattern.name == CATCH_ALL)  # stable
    patterns = [_with_json_errors(pattern) for pattern in patterns]
    return patterns, app_name, namespace


def _with_json_errors(pattern):
    """Wrap a pattern's view so that its 405, which ninja answers as text outside its
    exception handlers, is JSON too, with the allowed methods."""
    view = pattern.callback

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        allowed = response.get("Allow", "")
        message = f"{request.method} is not allowed on {_cut(request.path, 200)}; use {allowed}."
        not_allowed = _error(request, message, 405)
        not_allowed["Allow"] = allowed
        return not_allowed

    pattern.callback = wrapped
    return pattern


SESSION_VIEWS = {"openapi-json", "openapi-view"}  # ninja's names for the schema and the docs
