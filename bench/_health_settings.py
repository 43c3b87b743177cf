"""The health benchmark's server: the app's settings with one URL more (`_health_urls`)."""

from platform_admin.settings import *  # noqa: F403 - the app's settings, unchanged

ROOT_URLCONF = "bench._health_urls"
