"""Fixtures for the GCP adapter tests: the adapters pointed at a freshly reset sandbox."""

import pytest

from platform_admin import gcp

STAGING, PROD, REGION, ZONE = "acme-staging", "acme-prod", "us-central1", "us-central1-a"


@pytest.fixture
def gcp_sandbox(sandbox, settings):
    """The sandbox (reset), with every Google client of the app talking to it."""
    settings.GCP_API_ENDPOINT = sandbox.http_url
    settings.GCP_GRPC_ENDPOINT = sandbox.grpc_target
    gcp.reset_clients()  # clients built for another endpoint must not be reused
    yield sandbox
    gcp.reset_clients()
