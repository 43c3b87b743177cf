"""Logins, failed logins and lockouts go into the audit trail."""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from platform_admin import audit
from platform_admin.middleware import client_ip


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    audit.record("auth.login", actor=user, obj=user, ip=client_ip(request) if request else None)


@receiver(user_login_failed)
def audit_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit.record(
        "auth.login_failed",
        actor=username or "anonymous",
        detail={"username": username},
        ip=client_ip(request) if request else None,
    )


@receiver(user_locked_out)
def audit_locked_out(sender, request, username=None, ip_address=None, **kwargs):
    """One `login.locked_out` when a username or address reaches the failure limit.

    Axes sends this signal again for every attempt it refuses during the lockout; those
    are already in the trail as `auth.login_failed`, so only the attempt that crossed the
    limit (axes counted it: `axes_failures_since_start`) is recorded here."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    username = str(username or "")[:150]
    audit.record(
        "login.locked_out",
        actor=username or "anonymous",
        detail={
            "username": username,
            "ip": ip_address,
            "failures": failures,
            "failure_limit": settings.LOGIN_FAILURE_LIMIT,
            "cooloff_minutes": settings.LOGIN_COOLOFF_MINUTES,
        },
        ip=ip_address,
    )
