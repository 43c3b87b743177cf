from django.contrib import admin

from deployments.models import Environment, Release, ReleaseArtifact, Rollout, Service


class ServiceInline(admin.TabularInline):
    model = Service
    extra = 0


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "gcp_project", "region", "requires_approval", "monthly_target"]
    inlines = [ServiceInline]


class ArtifactInline(admin.TabularInline):
    model = ReleaseArtifact
    extra = 0


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["version", "created_by", "created_at"]
    inlines = [ArtifactInline]

    def has_change_permission(self, request, obj=None):
        # A deployed release is immutable.
        return super().has_change_permission(request, obj) and not (obj and obj.is_deployed)


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = ["id", "release", "environment", "kind", "strategy", "state", "created_at"]
    list_filter = ["state", "environment"]

    def has_change_permission(self, request, obj=None):
        return False  # rollouts change state only through deployments.services
