from django.contrib import admin

from deployments.models import ApiToken, Release, ReleaseArtifact, Rollout
from deployments.tokens import revoke_token


class ArtifactInline(admin.TabularInline):
    model = ReleaseArtifact
    extra = 0


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["version", "created_by", "created_at"]
    inlines = [ArtifactInline]

    def has_change_permission(self, request, obj=None):
        # A release a rollout has used is immutable.
        return super().has_change_permission(request, obj) and not (obj and obj.is_locked)


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = ["id", "release", "environment", "kind", "strategy", "state", "created_at"]
    list_filter = ["state", "environment"]

    def has_change_permission(self, request, obj=None):
        return False  # rollouts change state only through deployments.services


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

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = sum(revoke_token(row, request.user) for row in queryset.select_related("user"))
        self.message_user(request, f"{count} token(s) revoked.")
