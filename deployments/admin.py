"""The Django admin for releases, rollouts and API tokens. Nothing here saves past the
audit trail: an unused release is corrected through `update_release`, rollouts and their
timelines are view-only history, tokens are only revoked (audited)."""

from django.contrib import admin
from django.contrib.admin.utils import construct_change_message, unquote
from django.core.exceptions import PermissionDenied
from django.utils.html import escape

from deployments.errors import DeploymentError
from deployments.models import ApiToken, Release, ReleaseArtifact, Rollout, RolloutEvent
from deployments.services import update_release
from deployments.tokens import revoke_token
from platform_admin.admin_audit import RefusalsShownMixin, ViewOnlyAdmin, ViewOnlyInline, refused_on


def _locked_sentence(release: Release) -> str:
    return (
        f"Release {release.version} has been deployed ({', '.join(release.used_in())}); "
        "deployed releases are immutable. Register a new version instead."
    )


class ArtifactInline(admin.TabularInline):
    """A release's images, editable exactly when the release is (saved by the release)."""

    model = ReleaseArtifact
    extra = 0

    def _editable(self, release) -> bool:
        return release is not None and not release.is_locked

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self._editable(obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._editable(obj)


@admin.register(Release)
class ReleaseAdmin(RefusalsShownMixin, admin.ModelAdmin):
    """Releases are registered on the Releases page or by CI. Here a release no rollout
    has used gets its notes and images corrected; a release is never deleted (history)."""

    list_display = ["version", "created_by", "created_at"]
    inlines = [ArtifactInline]
    readonly_fields = ["version", "created_by", "created_at"]

    def has_add_permission(self, request):
        return False  # create_release validates the whole set of images: the Releases page

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # A release a rollout has used is immutable.
        return super().has_change_permission(request, obj) and not (obj and obj.is_locked)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.is_locked:
            (name, options), *rest = fieldsets
            fieldsets = [(name, {**options, "description": escape(_locked_sentence(obj))}), *rest]
        return fieldsets

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and object_id is not None:
            release = self.get_object(request, unquote(object_id))
            if release is not None and release.is_locked:
                return self.refused(request, _locked_sentence(release))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Nothing here: `save_related` saves notes and images together, through
        update_release (audited, refused once the release is deployed)."""

    def save_related(self, request, form, formsets, change):
        images = _images(formsets)
        with refused_on(DeploymentError, PermissionDenied):
            update_release(
                request.user, form.instance, notes=form.cleaned_data["notes"], artifacts=images
            )

    def construct_change_message(self, request, form, formsets, add=False):
        # The inline formsets were not saved by the admin (update_release saved the images).
        return construct_change_message(form, [], add)


def _images(formsets) -> dict[str, str]:
    """{service: image} as the artifact forms now say, deleted rows and blank extras aside."""
    images = {}
    for formset in formsets:
        if formset.model is not ReleaseArtifact:
            continue
        for form in formset.forms:
            data = form.cleaned_data
            if data and not data.get("DELETE"):
                images[data["service_name"]] = data["image"]
    return images


class RolloutEventInline(ViewOnlyInline):
    model = RolloutEvent
    fields = readonly_fields = ["created_at", "kind", "message", "data"]


@admin.register(Rollout)
class RolloutAdmin(ViewOnlyAdmin):
    """Rollouts and their timelines are history: shown here, changed only through the
    rollout page and the CI API (audited), never deleted."""

    list_display = ["id", "release", "environment", "kind", "strategy", "state", "created_at"]
    list_filter = ["state", "environment"]
    inlines = [RolloutEventInline]
    note = (
        "Read-only: rollouts change through their rollout page or the CI API, which record "
        "every step in the audit trail. Rollouts and their timelines are never deleted."
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_api_token` and revoked here."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # the plain token must be shown once: the command does that

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a revoked token stays, so its audit events keep naming a row

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = sum(revoke_token(row, request.user) for row in queryset.select_related("user"))
        self.message_user(request, f"{count} token(s) revoked.")
