"""Shared fixtures: the network guard, the platform from platform.example.toml, named users.

alice deploys staging and production, bob approves production (and deploys staging),
carol is finance, admin is a superuser, dave holds no role at all.
"""

import os
from pathlib import Path

import pytest

from tests import network_guard

network_guard.install()
# Playwright's sync API runs an event loop in this thread; Django must still allow the
# ORM calls the tests make around it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ["NO_GCE_CHECK"] = "true"

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PLATFORM = REPO / "platform.example.toml"

pytest_plugins = ["tests.browser"] + (
    ["tests.sandbox_fixture"] if (REPO / "tests" / "sandbox_fixture.py").exists() else []
)  # TEMP


@pytest.fixture(autouse=True, scope="session")
def _plain_static_storage():
    """Templates resolve {% static %} without a collectstatic manifest in tests."""
    from django.test.utils import override_settings

    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ):
        yield


@pytest.fixture(autouse=True)
def _empty_page_cache():
    """Each test starts with no rendered page parts (the cache lives in this process)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def platform(db):
    """The team's platform from platform.example.toml, synced into the database."""
    from platform_admin.platform_file import load_platform
    from platform_admin.sync import sync_platform

    sync_platform(load_platform(EXAMPLE_PLATFORM), actor="test")
    from platform_admin.models import Environment

    return {env.slug: env for env in Environment.objects.all()}


@pytest.fixture
def staging(platform):
    return platform["staging"]


@pytest.fixture
def production(platform):
    return platform["production"]


def _user(username, *grants, superuser=False):
    from django.contrib.auth import get_user_model

    from platform_admin.models import RoleGrant

    user = get_user_model().objects.create_user(
        username, password="pw-" + username, is_superuser=superuser, is_staff=superuser
    )
    for role, env in grants:
        RoleGrant.objects.create(user=user, role=role, environment=env)
    return user


@pytest.fixture
def alice(staging, production):
    return _user("alice", ("deployer", staging), ("deployer", production))


@pytest.fixture
def bob(staging, production):
    return _user("bob", ("approver", production), ("deployer", staging))


@pytest.fixture
def carol(platform):
    return _user("carol", ("finance", None))


@pytest.fixture
def admin_user(platform):
    return _user("admin", superuser=True)


@pytest.fixture
def dave(platform):
    return _user("dave")
