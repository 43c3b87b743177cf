"""The Django admin for the platform layer. Nothing here saves past the audit trail:
environments, services and settings come from the platform file (view-only here), role
grants and user accounts change through audited functions, audit events never change.
See platform_admin/admin_audit.py."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from platform_admin import services
from platform_admin.admin_audit import (
    PLATFORM_FILE_NOTE,
    RefusalsShownMixin,
    UserState,
    ViewOnlyAdmin,
    ViewOnlyInline,
    record_user_created,
    record_user_deleted,
    record_user_updated,
    refused_on,
)
from platform_admin.models import (
    AuditEvent,
    Environment,
    PlatformSettings,
    Role,
    RoleGrant,
    Service,
)
from platform_admin.roles import has_role


class ServiceInline(ViewOnlyInline):
    model = Service


@admin.register(Environment)
class EnvironmentAdmin(ViewOnlyAdmin):
    list_display = ["slug", "name", "gcp_project", "region", "requires_approval", "monthly_target"]
    inlines = [ServiceInline]
    note = PLATFORM_FILE_NOTE


@admin.register(PlatformSettings)
class PlatformSettingsAdmin(ViewOnlyAdmin):
    note = PLATFORM_FILE_NOTE + " (its <code>[billing]</code> table)"


@admin.register(RoleGrant)
class RoleGrantAdmin(RefusalsShownMixin, admin.ModelAdmin):
    """Grants change only through the audited services. Changing a grant's user, role or
    scope revokes the old grant and grants the new one."""

    list_display = ["user", "role", "environment", "granted_by", "granted_at"]
    list_filter = ["role", "environment"]
    readonly_fields = ["granted_by", "granted_at"]

    def _may_administer(self, request, obj) -> bool:
        if obj is None:  # the list and the add form; the service checks the scope chosen
            return has_role(request.user, Role.ADMIN, anywhere=True)
        return has_role(request.user, Role.ADMIN, obj.environment)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self._may_administer(request, None)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_administer(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_administer(request, obj)

    def save_model(self, request, obj, form, change):
        with refused_on(PermissionDenied, ValueError):
            if change:
                grant = services.change_grant(
                    request.user, obj, obj.user, obj.role, obj.environment
                )
            else:
                grant = services.grant_role(request.user, obj.user, obj.role, obj.environment)
        # The admin's message, log entry and redirect then name the grant that now exists.
        obj.pk, obj.granted_by, obj.granted_at = grant.pk, grant.granted_by, grant.granted_at

    def delete_model(self, request, obj):
        with refused_on(PermissionDenied):
            services.revoke_role(request.user, obj.user, obj.role, obj.environment)

    def delete_queryset(self, request, queryset):
        # "Delete selected": one audited revoke per grant, all of them or none.
        with transaction.atomic(), refused_on(PermissionDenied):
            for grant in queryset.select_related("user", "environment"):
                services.revoke_role(request.user, grant.user, grant.role, grant.environment)


@admin.register(AuditEvent)
class AuditEventAdmin(ViewOnlyAdmin):
    list_display = ["created_at", "actor", "action", "object_repr", "environment", "ip"]
    list_filter = ["action", "environment"]


# --- user accounts ------------------------------------------------------------------------

User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class ViewOnlyGroupAdmin(ViewOnlyAdmin, GroupAdmin):
    note = (
        "Read-only: the platform gives access with role grants, not groups. A user's groups "
        "can still be set on the user's page, which records the change in the audit trail."
    )


@admin.register(User)
class AuditedUserAdmin(UserAdmin):
    """Django's user admin, with every add, change (password and flags included) and
    delete recorded in the audit trail. Only holders of the platform-wide admin role may
    make them: a staff flag with Django permissions is not enough to create a superuser."""

    # Set by Django, not by people; the form's widget would also drop their microseconds,
    # so every save would record a change to them.
    readonly_fields = ["last_login", "date_joined"]

    def _is_platform_admin(self, request) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self._is_platform_admin(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._is_platform_admin(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._is_platform_admin(request)

    def save_model(self, request, obj, form, change):
        # The account as stored, read before the form's values are written; compared in
        # save_related, once the groups and permissions are saved too.
        before = User.objects.get(pk=obj.pk) if change else None
        request._user_before_admin_save = UserState.of(before) if before else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            record_user_updated(request.user, form.instance, request._user_before_admin_save)
        else:
            record_user_created(request.user, form.instance)

    @method_decorator(sensitive_post_parameters())
    def user_change_password(self, request, id, form_url=""):
        """The password form, in one transaction with its audit event (Django's is not)."""
        if request.method != "POST":
            return super().user_change_password(request, id, form_url)
        with transaction.atomic(using=router.db_for_write(User)):
            user = self.get_object(request, unquote(id))
            before = UserState.of(user) if user is not None else None
            response = super().user_change_password(request, id, form_url)
            if before is not None:
                user.refresh_from_db()
                record_user_updated(request.user, user, before)
            return response

    def delete_model(self, request, obj):
        record_user_deleted(request.user, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for user in queryset:
                record_user_deleted(request.user, user)
            super().delete_queryset(request, queryset)
