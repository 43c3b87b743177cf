"""Fixtures for the GCP adapter tests: the adapters pointed at a freshly reset sandbox.
And what is collected on which database."""

import pytest
from django.db import connection

from platform_admin import gcp
from tests.deployments.conftest import make_release, redis_conn  # noqa: F401 - shared fixtures

# What only PostgreSQL does is not collected on another database (`make test` runs the
# audit chain on SQLite as well): a test there would fail for want of the feature, not of
# the code under test.
collect_ignore = [] if connection.vendor == "postgresql" else ["test_audit_chain_postgres.py"]

STAGING, PROD, REGION, ZONE = "acme-staging", "acme-prod", "us-central1", "us-central1-a"


@pytest.fixture
def gcp_sandbox(sandbox, settings):
    """The sandbox (reset), with every Google client of the app talking to it."""
    settings.GCP_API_ENDPOINT = sandbox.http_url
    settings.GCP_GRPC_ENDPOINT = sandbox.grpc_target
    gcp.reset_clients()  # clients built for another endpoint must not be reused
    yield sandbox
    gcp.reset_clients()
