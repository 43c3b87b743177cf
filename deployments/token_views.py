"""The API tokens page: a user's own tokens (an admin sees everyone's), made and revoked
here. Thin: the rules live in deployments.tokens."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from deployments.errors import DeploymentError
from deployments.models import ApiToken, TokenScope
from deployments.tokens import DEFAULT_DAYS, MAX_DAYS, TokenRequest, create_token, revoke_token
from platform_admin.models import Environment


class TokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What it is for, e.g. github-actions staging")
    days = forms.IntegerField(min_value=1, max_value=MAX_DAYS, initial=DEFAULT_DAYS)
    scopes = forms.MultipleChoiceField(
        required=False,
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: it only reads (costs, releases, rollouts, health).",
    )
    environments = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every environment.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environments"].choices = list(Environment.objects.values_list("slug", "name"))

    def token_request(self) -> TokenRequest:
        data = self.cleaned_data
        return TokenRequest(
            name=data["name"],
            days=data["days"],
            scopes=tuple(data["scopes"]),
            environments=tuple(data["environments"]),
        )


def tokens(request):
    form = TokenForm(request.POST or None)
    created = ""
    if request.method == "POST" and form.is_valid():
        try:
            created = create_token(request.user, form.token_request(), actor=request.user)
        except (DeploymentError, PermissionDenied) as exc:
            form.add_error(None, getattr(exc, "message", None) or str(exc))
        else:
            form = TokenForm()
    rows = ApiToken.objects.select_related("user")
    if not request.user.is_superuser:
        rows = rows.filter(user=request.user)
    return render(
        request,
        "deployments/tokens.html",
        {"form": form, "created": created, "tokens": rows, "now": timezone.now()},
        status=400 if request.method == "POST" and not created else 200,
    )


@require_POST
def revoke(request, pk):
    row = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    try:
        revoked = revoke_token(row, request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        if revoked:
            messages.success(request, f"Token {row.name} revoked.")
    return redirect("deployments:tokens")
