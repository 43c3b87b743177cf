from django.contrib import admin

from platform_admin.models import AuditEvent, Environment, PlatformSettings, RoleGrant, Service


class ServiceInline(admin.TabularInline):
    model = Service
    extra = 0


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "gcp_project", "region", "requires_approval", "monthly_target"]
    inlines = [ServiceInline]


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "environment", "granted_by", "granted_at"]
    list_filter = ["role", "environment"]

    def save_model(self, request, obj, form, change):
        # Grants go through the service so they are permission-checked and audited.
        from platform_admin.services import grant_role

        grant_role(request.user, obj.user, obj.role, obj.environment)

    def delete_model(self, request, obj):
        from platform_admin.services import revoke_role

        revoke_role(request.user, obj.user, obj.role, obj.environment)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_repr", "environment", "ip"]
    list_filter = ["action", "environment"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(PlatformSettings)
