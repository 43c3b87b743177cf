"""Logins and failed logins go into the audit trail."""

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
