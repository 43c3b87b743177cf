"""What a locked-out sign-in sees: the login page with a sentence, answered 429.

django-axes counts failed sign-ins per username and per client address (settings:
LOGIN_FAILURE_LIMIT, LOGIN_COOLOFF_MINUTES) and calls `lockout_response` instead of its
bare text page; `platform_admin.signals` audits the lockout.
"""

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

LOCKED_OUT_STATUS = 429


def lockout_message() -> str:
    """The sentence the login page shows while a username or address is locked out."""
    minutes = settings.LOGIN_COOLOFF_MINUTES
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins for this account or address; try again in {minutes} {unit}."


def lockout_response(request, original_response=None, credentials=None):
    """The login form again (username kept, password not), the lockout sentence, 429."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {
        "form": form,
        "lockout_message": lockout_message(),
        "next": _safe_next(request),
    }
    return render(request, "registration/login.html", context, status=LOCKED_OUT_STATUS)


def _safe_next(request) -> str:
    """The `next` the form carried, kept only when it points back to this site."""
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""
