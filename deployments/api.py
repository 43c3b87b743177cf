"""The CI API at /api/v1/ (django-ninja): bearer tokens, the same service functions as
the pages, JSON errors with the right status. OpenAPI at /api/v1/openapi.json, docs at
/api/v1/docs."""

import json

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from deployments import services
from deployments.errors import DeploymentError
from deployments.models import CONTROL_SCOPES, Release, Rollout, TokenScope
from deployments.tokens import TokenRefused, require_scope, token_for
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
)


class ErrorOut(Schema):
    message: str


class ReleaseIn(Schema):
    version: str
    notes: str = ""
    artifacts: dict[str, str]


class ReleasePatch(Schema):
    notes: str | None = None
    artifacts: dict[str, str] | None = None


class ReleaseOut(Schema):
    version: str
    notes: str
    artifacts: dict[str, str]
    url: str


class RolloutIn(Schema):
    release: str
    environment: str
    strategy: str = ""


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


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc):
    parts = []
    for err in exc.errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return _error(request, "Invalid request: " + "; ".join(parts), 400)


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
    except ValueError as exc:
        raise DeploymentError("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise DeploymentError("The request body must be a JSON object.")
    return body


def _rollout(pk: int) -> Rollout:
    return get_object_or_404(Rollout.objects.select_related("release", "environment"), pk=pk)


@api.post("/releases", response={201: ReleaseOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut})
def create_release(request, payload: ReleaseIn):
    require_scope(request.api_token, TokenScope.RELEASES)
    release = services.create_release(
        request.user, payload.version, payload.artifacts, notes=payload.notes
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
        request.user, release, notes=payload.notes, artifacts=payload.artifacts
    )
    return Status(200, _release_json(request, release))


def _release_json(request, release: Release) -> dict:
    return {
        "version": release.version,
        "notes": release.notes,
        "artifacts": release.images(),
        "url": _absolute(request, release.get_absolute_url()),
    }


@api.post("/rollouts", response={202: RolloutCreated, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut})
def start_rollout(request, payload: RolloutIn):
    release = Release.objects.filter(version=payload.release).first()
    environment = Environment.objects.filter(slug=payload.environment).first()
    if release is None:
        raise DeploymentError(f"No release {payload.release!r}; register it first.")
    if environment is None:
        raise DeploymentError(f"No environment {payload.environment!r}.")
    require_scope(request.api_token, TokenScope.DEPLOY, environment)
    rollout = services.start_rollout(request.user, release, environment, payload.strategy)
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
        response={200: RolloutOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
        summary=f"{_action.capitalize()} a rollout",
    )(_action_endpoint(_action))


@api.post(
    "/environments/{slug}/rollback",
    response={202: RolloutCreated, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
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


def urls():
    """The API's URL patterns, exempt from LoginRequiredMiddleware (tokens, not sessions)."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback.login_required = False
    return patterns, app_name, namespace
