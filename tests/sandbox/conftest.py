"""Fixtures for the sandbox's own contract tests.

They run against the sandbox's own platform file (so project and service names are
fixed here) with a high request rate, so metric windows of a second or two hold
enough requests for stable ratios. No Django is needed.
"""

from pathlib import Path

import grpc
import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, billing_v1, compute_v1, monitoring_v3, run_v2
from google.cloud.monitoring_v3.services.metric_service.transports import (
    MetricServiceGrpcTransport,
)

from tests.sandbox_fixture import running_sandbox

PLATFORM = Path(__file__).with_name("platform.sandbox-test.toml")
RPS = 400.0
STAGING, PROD, REGION, ZONE = "acme-staging", "acme-prod", "us-central1", "us-central1-a"


@pytest.fixture(autouse=True, scope="session")
def _plain_static_storage():
    """Overrides the root conftest's Django-only fixture: these tests run without Django."""
    yield


@pytest.fixture(scope="session")
def sandbox_server():
    """Overrides the plugin's: this suite's own platform file and a high request rate.
    The plugin's `sandbox` fixture resets it before each test."""
    with running_sandbox(PLATFORM, "--rps", str(RPS)) as server:
        yield server


def _rest(client_cls, sandbox):
    return client_cls(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": sandbox.http_url},
    )


@pytest.fixture
def run_client(sandbox):
    return _rest(run_v2.ServicesClient, sandbox)


@pytest.fixture
def revisions_client(sandbox):
    return _rest(run_v2.RevisionsClient, sandbox)


@pytest.fixture
def catalog_client(sandbox):
    return _rest(billing_v1.CloudCatalogClient, sandbox)


@pytest.fixture
def instances_client(sandbox):
    return _rest(compute_v1.InstancesClient, sandbox)


@pytest.fixture
def zone_ops_client(sandbox):
    return _rest(compute_v1.ZoneOperationsClient, sandbox)


@pytest.fixture
def metrics_client(sandbox):
    channel = grpc.insecure_channel(sandbox.grpc_target)
    yield monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
    channel.close()


@pytest.fixture
def bq_client(sandbox):
    return bigquery.Client(
        project=STAGING,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=sandbox.http_url),
    )
