"""Keeping the Django admin on the audit trail.

The admin saves models directly, past the services that audit changes. Every admin page
therefore either routes its changes through an audited function, or is view-only. This
module holds the shared pieces: view-only admins, the refusal a service's sentence turns
into, and the audit events of user accounts (which have no service of their own).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpResponseRedirect

from platform_admin import audit
from platform_admin.models import Role
from platform_admin.roles import require

PLATFORM_FILE_NOTE = (
    "Read-only: this comes from the platform file. Change it there and run "
    "<code>python manage.py sync_platform FILE</code>, which records every change in the "
    "audit trail."
)


class Refused(Exception):
    """A service refused an admin change; its sentence is shown and nothing is saved."""


@contextmanager
def refused_on(*errors: type[Exception]) -> Iterator[None]:
    """Turn the named exceptions of a service call into `Refused`, keeping the sentence."""
    try:
        yield
    except errors as exc:
        raise Refused(_sentence(exc)) from exc


def _sentence(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or "This change was refused."


class RefusalsShownMixin:
    """Shows a `Refused` raised while saving or deleting as an error message on the page
    it came from. The admin's transaction has rolled back by then: nothing was saved."""

    def refused(self, request, sentence: str) -> HttpResponseRedirect:
        self.message_user(request, sentence, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except Refused as exc:
            return self.refused(request, str(exc))

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except Refused as exc:
            return self.refused(request, str(exc))

    def changelist_view(self, request, extra_context=None):
        if request.method != "POST":
            return super().changelist_view(request, extra_context)
        # Bulk actions: all rows or none, the admin's own log entries included.
        try:
            with transaction.atomic():
                return super().changelist_view(request, extra_context)
        except Refused as exc:
            return self.refused(request, str(exc))


class ViewOnlyAdmin(admin.ModelAdmin):
    """An admin that shows rows and never adds, changes or deletes them. `note` (trusted
    HTML, never user data) says where the rows are changed instead."""

    note = ""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fieldsets(self, request, obj=None):
        (name, options), *rest = super().get_fieldsets(request, obj)
        if self.note:
            options = {**options, "description": self.note}
        return [(name, options), *rest]

    def changelist_view(self, request, extra_context=None):
        context = {"subtitle": _plain_note(self.note)} if self.note else {}
        return super().changelist_view(request, {**context, **(extra_context or {})})


def _plain_note(note: str) -> str:
    # The list page's subtitle is escaped: the note without its markup.
    return note.replace("<code>", "").replace("</code>", "")


class ViewOnlyInline(admin.TabularInline):
    """Rows shown under their parent, never added, changed or deleted there."""

    extra = 0
    can_delete = False
    # Shown, never submitted; Django 5.2 warns on a URL field that names no scheme to
    # assume for a bare host.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- user accounts ------------------------------------------------------------------------


@dataclass(frozen=True)
class UserState:
    """A user account as its audit events describe it: every field by name, groups and
    permissions by name. The password hash is kept only to tell whether it changed."""

    fields: dict
    password: str

    @classmethod
    def of(cls, user) -> "UserState":
        fields = {
            f.name: f.value_from_object(user)
            for f in user._meta.concrete_fields
            if not f.primary_key and f.name != "password"
        }
        for field in user._meta.many_to_many:
            fields[field.name] = sorted(str(row) for row in getattr(user, field.name).all())
        return cls(fields, user.password)

    def changes_to(self, after: "UserState", usable_now: bool) -> dict:
        """{field: [old, new]} for what differs; the password only as changed or disabled."""
        changes = {
            name: [old, after.fields.get(name)]
            for name, old in self.fields.items()
            if after.fields.get(name) != old
        }
        if after.password != self.password:
            changes["password"] = "changed" if usable_now else "disabled"
        return changes


def record_user_created(actor, user) -> None:
    """Audit a new account (inside the transaction that created it)."""
    require(actor, Role.ADMIN, None, "create users")
    detail = {
        "user": user.get_username(),
        "fields": UserState.of(user).fields,
        "password": "set" if user.has_usable_password() else "none (password login disabled)",
    }
    audit.record("user.created", actor=actor, obj=user, detail=detail)


def record_user_updated(actor, user, before: UserState) -> None:
    """Audit what changed on `user` since `before`; nothing is written if nothing did."""
    require(actor, Role.ADMIN, None, "change users")
    changes = before.changes_to(UserState.of(user), user.has_usable_password())
    if changes:
        detail = {"user": user.get_username(), "changes": changes}
        audit.record("user.updated", actor=actor, obj=user, detail=detail)


def record_user_deleted(actor, user) -> None:
    """Audit an account about to be deleted, with what is deleted along with it."""
    require(actor, Role.ADMIN, None, "delete users")
    detail = {
        "user": user.get_username(),
        "fields": UserState.of(user).fields,
        "role_grants_removed": sorted(str(grant) for grant in user.role_grants.all()),
        "also_deleted": _cascaded_counts(user),
    }
    audit.record("user.deleted", actor=actor, obj=user, detail=detail)


def _cascaded_counts(user) -> dict[str, int]:
    """How many rows of each model go with the user (API tokens, admin log entries...)."""
    counts = {}
    for relation in user._meta.related_objects:
        if relation.one_to_many and relation.on_delete is models.CASCADE:
            count = getattr(user, relation.get_accessor_name()).count()
            if count:
                counts[relation.related_model._meta.label] = count
    return counts
