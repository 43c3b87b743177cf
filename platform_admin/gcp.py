"""The one place that builds Google Cloud clients and turns their errors into ours.

Production uses Application Default Credentials and Google's endpoints. When
`GCP_API_ENDPOINT` is set (the sandbox in tests and the demo) every REST client talks to
that URL with anonymous credentials, and the gRPC clients (Cloud Run, Cloud Monitoring)
to `GCP_GRPC_ENDPOINT` over an insecure channel. Domain modules (`gcp_run`, `gcp_compute`,
`gcp_monitoring`, `gcp_catalog`, `gcp_bigquery`, `gcp_storage`) call these factories, pass
`timeout()` on every call and wrap calls in `translate(...)`, so the rest of the app sees
plain dataclasses and the `Gcp*` exceptions below.
"""

import concurrent.futures
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.auth import exceptions as auth_exc

# The IAM role a person must grant when Google says "permission denied", per API.
IAM_HINTS = {
    "run": "the deployer service account needs roles/run.developer",
    "monitoring": "the service account needs roles/monitoring.viewer",
    "compute": "the deployer service account needs roles/compute.instanceAdmin.v1",
    "catalog": "the Cloud Billing API (cloudbilling.googleapis.com) must be enabled; "
    "the catalog needs no IAM role",
    "bigquery": "the service account needs roles/bigquery.jobUser on the project and "
    "roles/bigquery.dataViewer on the billing export dataset",
    "storage": "the deployer service account needs roles/storage.objectAdmin on the site's "
    "bucket and roles/storage.objectViewer on the builds bucket",
    "cdn": "the deployer service account needs roles/compute.loadBalancerAdmin to "
    "invalidate the CDN cache",
}

# Only transient failures are retried; 500 is not, because a mutation may have happened.
RETRYABLE = (
    gexc.TooManyRequests,  # 429 / RESOURCE_EXHAUSTED
    gexc.ServiceUnavailable,  # 503 / UNAVAILABLE
    gexc.GatewayTimeout,  # 504, includes DeadlineExceeded
    requests.exceptions.ConnectionError,  # the REST transport does not wrap these
)


class GcpError(Exception):
    """A Google Cloud call failed; `message` says what to do about it."""

    retryable = False

    def __init__(self, message: str, retryable: bool | None = None):
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class GcpPermissionDenied(GcpError):
    """403/401: the credentials lack a role, or the API is disabled."""


class GcpNotFound(GcpError):
    """404: the project, service, revision or instance does not exist."""


class GcpInvalidRequest(GcpError):
    """400/409/412: a bad argument, a conflict or a failed precondition (stale fingerprint)."""


class GcpUnavailable(GcpError):
    """429/503/timeouts that outlasted our retries: try again later."""

    retryable = True


class GcpOperationFailed(GcpError):
    """A long-running operation finished with an error (e.g. the revision never got ready)."""


# ------------------------------------------------------------------ settings helpers


def api_endpoint() -> str | None:
    """The REST endpoint override (the sandbox), or None for Google's own endpoints."""
    return settings.GCP_API_ENDPOINT


def timeout() -> float:
    """Seconds one call may take; every call passes this explicitly."""
    return float(settings.GCP_TIMEOUT_SECONDS)


def retry_policy(deadline: float | None = None) -> Retry:
    """Exponential back-off for idempotent calls (reads, or writes carrying a request id)."""
    return Retry(
        predicate=if_exception_type(*RETRYABLE),
        initial=0.2,
        maximum=5.0,
        multiplier=2.0,
        timeout=deadline if deadline is not None else timeout(),
    )


# ------------------------------------------------------------------ client factory

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def reset_clients() -> None:
    """Forget cached clients, e.g. after a test points the settings at a new sandbox."""
    with _clients_lock:
        _clients.clear()


def _cached(kind: str, build, *extra) -> object:
    # Keyed by endpoint too, so a settings change never reuses a client for the old one.
    key = (kind, settings.GCP_API_ENDPOINT, settings.GCP_GRPC_ENDPOINT, *extra)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = build()
        return _clients[key]


def _rest_kwargs() -> dict:
    endpoint = api_endpoint()
    if not endpoint:
        return {"transport": "rest"}  # Application Default Credentials
    from google.auth.credentials import AnonymousCredentials

    return {
        "transport": "rest",
        "credentials": AnonymousCredentials(),
        "client_options": {"api_endpoint": endpoint},
    }


def _grpc_client(client_class, transport_class):
    """A gRPC client: Google's endpoint with Application Default Credentials, or the
    sandbox's `GCP_GRPC_ENDPOINT` over an insecure channel."""
    target = settings.GCP_GRPC_ENDPOINT
    if not target and api_endpoint():
        # Half a sandbox set-up would send these calls to real Google.
        raise ImproperlyConfigured("GCP_API_ENDPOINT is set but GCP_GRPC_ENDPOINT is not")
    if not target:
        return client_class()
    import grpc

    return client_class(transport=transport_class(channel=grpc.insecure_channel(target)))


def run_services_client():
    """Cloud Run Admin v2 ServicesClient, over gRPC (the library's default transport: a
    call costs the client a quarter of the CPU of the REST transport's)."""
    from google.cloud import run_v2
    from google.cloud.run_v2.services.services.transports import ServicesGrpcTransport

    return _cached(
        "run_services", lambda: _grpc_client(run_v2.ServicesClient, ServicesGrpcTransport)
    )


def run_revisions_client():
    """Cloud Run Admin v2 RevisionsClient, over gRPC."""
    from google.cloud import run_v2
    from google.cloud.run_v2.services.revisions.transports import RevisionsGrpcTransport

    return _cached(
        "run_revisions", lambda: _grpc_client(run_v2.RevisionsClient, RevisionsGrpcTransport)
    )


def metric_client():
    """Cloud Monitoring v3 MetricServiceClient (gRPC: the API has no REST transport)."""
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.services.metric_service.transports import (
        MetricServiceGrpcTransport,
    )

    return _cached(
        "metric",
        lambda: _grpc_client(monitoring_v3.MetricServiceClient, MetricServiceGrpcTransport),
    )


def run_jobs_client():
    """Cloud Run Admin v2 JobsClient, over gRPC."""
    from google.cloud import run_v2
    from google.cloud.run_v2.services.jobs.transports import JobsGrpcTransport

    return _cached("run_jobs", lambda: _grpc_client(run_v2.JobsClient, JobsGrpcTransport))


def run_executions_client():
    """Cloud Run Admin v2 ExecutionsClient, over gRPC."""
    from google.cloud import run_v2
    from google.cloud.run_v2.services.executions.transports import ExecutionsGrpcTransport

    return _cached(
        "run_executions",
        lambda: _grpc_client(run_v2.ExecutionsClient, ExecutionsGrpcTransport),
    )


def catalog_client():
    """Cloud Billing Catalog v1 CloudCatalogClient (REST)."""
    from google.cloud import billing_v1

    return _cached("catalog", lambda: billing_v1.CloudCatalogClient(**_rest_kwargs()))


def instances_client():
    """Compute Engine v1 InstancesClient (REST)."""
    from google.cloud import compute_v1

    return _cached("instances", lambda: compute_v1.InstancesClient(**_rest_kwargs()))


def zone_operations_client():
    """Compute Engine v1 ZoneOperationsClient (REST), for waiting on instance operations."""
    from google.cloud import compute_v1

    return _cached("zone_ops", lambda: compute_v1.ZoneOperationsClient(**_rest_kwargs()))


def url_maps_client():
    """Compute Engine v1 UrlMapsClient (REST), for Cloud CDN cache invalidations."""
    from google.cloud import compute_v1

    return _cached("url_maps", lambda: compute_v1.UrlMapsClient(**_rest_kwargs()))


def global_operations_client():
    """Compute Engine v1 GlobalOperationsClient (REST), for waiting on invalidations."""
    from google.cloud import compute_v1

    return _cached("global_ops", lambda: compute_v1.GlobalOperationsClient(**_rest_kwargs()))


def storage_client(project: str):
    """Cloud Storage client (JSON API) acting for `project`."""
    from google.cloud import storage

    def build():
        kwargs = _rest_kwargs()
        kwargs.pop("transport")
        return storage.Client(project=project, **kwargs)

    return _cached("storage", build, project)


def bigquery_client(project: str):
    """BigQuery client billed to `project` (always explicit: no metadata-server probe)."""
    from google.cloud import bigquery

    def build():
        kwargs = _rest_kwargs()
        kwargs.pop("transport")
        return bigquery.Client(project=project, **kwargs)

    return _cached("bigquery", build, project)


# ------------------------------------------------------------------ error mapping


def _api_of(what: str) -> str:
    lowered = what.lower()
    for word, api in (
        ("cdn", "cdn"),
        ("bucket", "storage"),
        ("object", "storage"),
        ("cloud run", "run"),
        ("job", "run"),
        ("execution", "run"),
        ("revision", "run"),
        ("metric", "monitoring"),
        ("monitoring", "monitoring"),
        ("vm", "compute"),
        ("instance", "compute"),
        ("compute", "compute"),
        ("catalog", "catalog"),
        ("sku", "catalog"),
        ("bigquery", "bigquery"),
        ("billing", "bigquery"),
    ):
        if word in lowered:
            return api
    return ""


def error_for(exc: BaseException, what: str, project: str, api: str = "") -> GcpError:
    """Our exception for a Google (or transport) exception raised while doing `what`."""
    where = f"on project {project} while {what}" if project else f"while {what}"
    google = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, gexc.Forbidden | gexc.Unauthorized):
        hint = IAM_HINTS.get(api or _api_of(what), "check the service account's IAM roles")
        return GcpPermissionDenied(f"permission denied {where}: {hint} ({google})")
    if isinstance(exc, gexc.NotFound):
        return GcpNotFound(f"not found {where}: {google}")
    if isinstance(exc, gexc.BadRequest | gexc.Conflict | gexc.PreconditionFailed):
        return GcpInvalidRequest(f"Google rejected the request {where}: {google}")
    if isinstance(exc, gexc.RetryError):
        cause = exc.cause or exc
        return GcpUnavailable(f"Google Cloud kept failing {where}, retries exhausted: {cause}")
    if isinstance(exc, RETRYABLE):
        return GcpUnavailable(f"Google Cloud is unavailable {where}: {google}; try again later")
    if isinstance(exc, requests.exceptions.Timeout | concurrent.futures.TimeoutError):
        return GcpUnavailable(f"Google Cloud did not answer in time {where}; try again later")
    return GcpError(f"Google Cloud call failed {where}: {google}")


# Raised by the clients or the transports; anything else is a bug and propagates as is.
_TRANSLATED = (
    gexc.GoogleAPIError,
    requests.exceptions.RequestException,
    concurrent.futures.TimeoutError,
)


@contextmanager
def translate(what: str, project: str, api: str = "") -> Iterator[None]:
    """Turn Google client exceptions raised inside the block into `GcpError`s.

    `what` completes "... while <what>", e.g. "updating Cloud Run service api-server";
    `api` ("run", "monitoring", "compute", "catalog", "bigquery") picks the IAM hint and
    is guessed from `what` when omitted.
    """
    try:
        yield
    except GcpError:
        raise
    except _TRANSLATED as exc:
        raise error_for(exc, what, project, api) from exc
    except auth_exc.GoogleAuthError as exc:
        # No Application Default Credentials on this machine, or they expired.
        raise GcpPermissionDenied(
            f"no usable Google credentials (Application Default Credentials) on project "
            f"{project or '-'} while {what}: {exc}"
        ) from exc
