"""Settings for platform-admin, read from the environment (see README, "Configuration")."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from platform_admin.env import (
    cpus_available,
    env_bool,
    env_decimal,
    env_float,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off "
            "(or set SECRET_KEY_FILE to a file that holds it)."
        )
    SECRET_KEY = "django-insecure-dev-only-key-never-used-with-debug-off"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"CSRF_TRUSTED_ORIGINS entry {_origin!r} must start with http:// or https://"
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_rq",
    "axes",  # login throttling; its admin is off (AXES_ENABLE_ADMIN), axes_reset resets
    "ninja",  # serves the API docs' Swagger UI from static files, not a CDN
    "platform_admin",
    "monitoring",
    "costs",
    "deployments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions, CSRF and every view: a NUL, a lone surrogate or an oversized body
    # is answered 400 with a sentence instead of reaching PostgreSQL as a server error.
    "platform_admin.middleware.RefuseUnstorableInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "platform_admin.middleware.MethodNotAllowedPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "platform_admin.middleware.AuditContextMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the login page's 429
]

ROOT_URLCONF = "platform_admin.urls"
WSGI_APPLICATION = "platform_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL Django knows: {exc}") from exc

_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if _SQLITE:
    # The demo's web server, workers and cron write to one file: wait for the lock, don't
    # fail. IMMEDIATE takes the write lock at BEGIN: a transaction that reads and then
    # writes (the audit chain's last hash, then its insert) would otherwise fail at once
    # with "database is locked" when another writer got in between. WAL: pages read while
    # a writer works (an import counting its rows) instead of waiting for it.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.update(
        timeout=20, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL;"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Axes refuses a locked-out sign-in before the password is checked; ModelBackend checks it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)

# HTTPS: on by default in production. Cloud Run terminates TLS and forwards the scheme
# in X-Forwarded-Proto, which is what SECURE_PROXY_SSL_HEADER trusts.
HTTPS = env_bool("HTTPS", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # container health checks speak plain HTTP
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# How many proxies in front of us append to X-Forwarded-For (Cloud Run: 1). 0 = trust none.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT failed sign-ins for one username, or
# from one client address, refuse every sign-in for that username and from that address
# (the right password too) until LOGIN_COOLOFF_MINUTES have passed since the last failure.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be 1 or more")
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
AXES_CLIENT_IP_CALLABLE = "platform_admin.middleware.client_ip"  # honours TRUSTED_PROXY_COUNT
AXES_LOCKOUT_CALLABLE = "platform_admin.throttle.lockout_response"
# A refused attempt does not restart the cool-off, so "try again in N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit trail already
AXES_ENABLE_ADMIN = False  # an admin page would delete attempts unaudited; use axes_reset

# Content-Security-Policy on every response (django-csp): no inline script or style, nothing
# from another host. Templates keep their CSS in static/css and their JS in static/js.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 900} for name in ("deploys", "default", "billing")
}
RQ_SHOW_ADMIN_LINK = False
# The deploy worker runs rollout passes in a thread pool (deployments/worker.py); the
# Procfile's `worker` line runs RQ's stock worker for the other queues.
RQ = {"WORKER_CLASS": "deployments.worker.DeployWorker"}
# Jobs one deploy worker process runs at once. Each thread keeps its database connection
# between jobs for DATABASE_CONN_MAX_AGE seconds, so count workers × threads against
# max_connections. SQLite (the demo) has one writer at a time: there, one job at a time.
DEPLOYMENTS_WORKER_THREADS = env_int("DEPLOYMENTS_WORKER_THREADS", 1 if _SQLITE else 16)
# A crashed rollout pass is tried again after this many seconds, doubled after each crash
# in a row (2, 4, 8, 16 s); the fifth crash ends the rollout errored.
DEPLOYMENTS_CRASH_BACKOFF_SECONDS = env_float("DEPLOYMENTS_CRASH_BACKOFF_SECONDS", 2.0)
# How often the rollout tick looks for due rollouts (the database is the schedule).
DEPLOYMENTS_TICK_SECONDS = env_int("DEPLOYMENTS_TICK_SECONDS", 1)

# Billing export files uploaded on the Costs page wait here for their import (the web and
# the worker must share it); one up to BILLING_INLINE_IMPORT_BYTES is imported at once.
BILLING_UPLOAD_DIR = env_str("BILLING_UPLOAD_DIR", str(BASE_DIR / "var" / "uploads"))
BILLING_INLINE_IMPORT_BYTES = env_int("BILLING_INLINE_IMPORT_BYTES", 4 * 1024 * 1024)
# An export file over this size is parsed by worker processes, one per CPU (at most 4;
# 0 or 1: none), beside the import's own process.
BILLING_PARALLEL_IMPORT_BYTES = env_int("BILLING_PARALLEL_IMPORT_BYTES", 4 * 1024 * 1024)
BILLING_IMPORT_WORKERS = env_int("BILLING_IMPORT_WORKERS", min(4, cpus_available()))
# The anomaly check: a component's day over twice its 14-day median alerts only above this
# amount (billing currency), so a few cents doubling never does.
COST_ANOMALY_FLOOR = env_decimal("COST_ANOMALY_FLOOR", "1")

# The platform file, in sync_platform's transaction: first each app's locks
# (`PLATFORM_SYNC_FIRST`, functions of no argument, before any row is written: the
# import's before the audit trail's), then each app's part after environments and services
# (`PLATFORM_SYNC_PARTS`, functions `part(spec, actor, report)`).
PLATFORM_SYNC_FIRST: list[str] = ["costs.sync.wait_for_imports"]
PLATFORM_SYNC_PARTS: list[str] = ["costs.sync.reattribute"]

# /healthz: (name, dotted path of a check returning (ok, detail), whether the web itself
# is out of service without it: 503). The background's checks only mark it "degraded".
HEALTH_CHECKS = [
    ("database", "platform_admin.health.check_database", True),
    ("redis", "platform_admin.health.check_redis", True),
    ("cron", "platform_admin.health.check_cron", False),
    ("rollouts", "deployments.health.check_rollouts", False),
]

# Health collection period: one Cloud Monitoring pass over every environment.
HEALTH_SAMPLE_SECONDS = env_int("HEALTH_SAMPLE_SECONDS", 60)
# Burn-rate alerts: a window fires only with at least this many 5xx in it, so one failed
# request out of two never pages.
HEALTH_ALERT_MIN_BAD_REQUESTS = env_int("HEALTH_ALERT_MIN_BAD_REQUESTS", 10)
# Every periodic job, run by RQ's cron scheduler (`manage.py rqcron platform_admin.cron`).
PERIODIC_JOBS = [
    {"func": "deployments.jobs.tick", "queue": "deploys", "interval": DEPLOYMENTS_TICK_SECONDS},
    {
        "func": "monitoring.jobs.sample_health",
        "queue": "default",  # never the deploys queue: sampling must not delay a rollout
        "interval": HEALTH_SAMPLE_SECONDS,
    },
    {
        # The open invoice months re-pulled from the BigQuery export, daily after the
        # export's overnight load (about a day behind).
        "func": "costs.jobs.pull_billing",
        "queue": "billing",
        "cron": env_str("BILLING_PULL_CRON", "30 9 * * *"),
        "timeout": 1800,
    },
    {
        # The list prices the estimator uses, from the Cloud Billing Catalog.
        "func": "costs.jobs.refresh_prices",
        "queue": "billing",
        "cron": env_str("PRICES_REFRESH_CRON", "10 6 * * *"),
        "timeout": 600,
    },
    {
        # Budget alerts and the anomaly check of the open invoice months (each import and
        # pull checks too; this catches a month that crossed with no new data, e.g. a
        # target lowered, and files-only setups).
        "func": "costs.jobs.check_cost_alerts",
        "queue": "billing",
        "cron": env_str("COST_ALERTS_CRON", "0 10 * * *"),
    },
]

# Health probe of a VM after its deploy (LiveKit): attempts × interval bounds the wait.
# Google reports the VM RUNNING while it still boots its containers: about a minute.
VM_HEALTH_ATTEMPTS = env_int("VM_HEALTH_ATTEMPTS", 12)
VM_HEALTH_INTERVAL_SECONDS = env_int("VM_HEALTH_INTERVAL_SECONDS", 5)
# How often a running pre-deploy job (the migrations) is looked at.
DEPLOYMENTS_JOB_POLL_SECONDS = env_int("DEPLOYMENTS_JOB_POLL_SECONDS", 2)
# A static site's public URL after its deploy and CDN invalidation: attempts × interval.
SITE_VERIFY_ATTEMPTS = env_int("SITE_VERIFY_ATTEMPTS", 6)
SITE_VERIFY_INTERVAL_SECONDS = env_int("SITE_VERIFY_INTERVAL_SECONDS", 5)
# The health collector probes each VM once a pass: its uptime check.
VM_PROBE_TIMEOUT_SECONDS = env_int("VM_PROBE_TIMEOUT_SECONDS", 5)
# The dashboard's public address, for absolute links in Slack messages.
SITE_URL = (env_str("SITE_URL", "") or "").rstrip("/")

# Google Cloud: unset = the real Google endpoints with Application Default Credentials.
# Set both to the sandbox (see sandbox/README.md) for the demo and the tests.
GCP_API_ENDPOINT = env_str("GCP_API_ENDPOINT") or None
GCP_GRPC_ENDPOINT = env_str("GCP_GRPC_ENDPOINT") or None
GCP_TIMEOUT_SECONDS = env_int("GCP_TIMEOUT_SECONDS", 30)
if GCP_API_ENDPOINT and not GCP_API_ENDPOINT.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"GCP_API_ENDPOINT={GCP_API_ENDPOINT!r} needs a scheme, e.g. http://127.0.0.1:8085"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"quiet_periodic_jobs": {"()": "platform_admin.logs.QuietPeriodicJobs"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        **{name: {"filters": ["quiet_periodic_jobs"]} for name in ("rq.worker", "rq.cron")},
        "axes": {"level": "WARNING"},  # a line per start and sign-in; the audit trail has those
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
