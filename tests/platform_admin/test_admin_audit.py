"""The Django admin never changes anything past the audit trail: every change it allows is
recorded, everything else is refused and changes nothing. Driven through the real admin
pages as the superuser `admin`, with forms submitted as a browser would submit them."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name

from html.parser import HTMLParser
from io import StringIO

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from deployments.models import Release, Rollout, RolloutEvent
from deployments.tokens import create_token
from platform_admin.models import AuditEvent, Environment, PlatformSettings, RoleGrant

# The deployments tests' `make_release` fixture, taken as a parameter of the same name.
from tests.deployments.conftest import image, make_release  # noqa: F401

User = get_user_model()
NEW_PASSWORD = "a-long-new-passphrase-42"
NOT_FINGERPRINTED = {"platform_admin.AuditEvent", "admin.LogEntry", "sessions.Session"}


class _FormFields(HTMLParser):
    """The name/value pairs a browser would submit for the page's main form."""

    def __init__(self):
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.pairs.append((name, a.get("value") or ("on" if "checked" in a else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.pairs.append((self._select, a.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.pairs.append((self._textarea, self._text.lstrip("\n")))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text += data


def form_data(response, **overrides) -> dict:
    """The form on `response` as submitted unchanged, with `overrides` applied."""
    parser = _FormFields()
    parser.feed(response.content.decode())
    data: dict = {}
    for name, value in parser.pairs:
        if name in data:
            data[name] = [*([data[name]] if isinstance(data[name], str) else data[name]), value]
        else:
            data[name] = value
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def audit_actions(since: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(id__gt=since).order_by("id").values_list("action", flat=True)
    )


def last_audit_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def fingerprint() -> dict:
    """Every row of every table the admin could touch, the audit trail itself aside."""
    return {
        model._meta.label: list(model._base_manager.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.managed and model._meta.label not in NOT_FINGERPRINTED
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def signed_in(client, admin_user):
    client.force_login(admin_user)
    return client


def make_rollout(release, environment, started_by, events=2) -> Rollout:
    rollout = Rollout.objects.create(
        release=release, environment=environment, started_by=started_by, state="succeeded"
    )
    for n in range(events):
        RolloutEvent.objects.create(rollout=rollout, kind="step", message=f"step {n}")
    return rollout


def with_notes(release: Release, notes: str) -> Release:
    release.notes = notes
    release.save(update_fields=["notes"])
    return release


# --- environments: from the platform file ---------------------------------------------------


def test_unticking_production_requires_approval_is_refused_and_changes_nothing(
    signed_in, production
):
    page = signed_in.get(url(Environment, "change", production.pk))
    assert "change it there and run" in page.content.decode().lower()
    since = last_audit_id()

    response = signed_in.post(
        url(Environment, "change", production.pk), {"slug": "production", "name": "Production"}
    )

    assert response.status_code == 403
    production.refresh_from_db()
    assert production.requires_approval is True
    assert audit_actions(since) == []


# --- user accounts ---------------------------------------------------------------------------


def test_making_dave_superuser_records_who_changed_what(signed_in, dave):
    page = signed_in.get(url(User, "change", dave.pk))
    since = last_audit_id()

    response = signed_in.post(
        url(User, "change", dave.pk), form_data(page, is_superuser="on", is_staff="on")
    )

    assert response.status_code == 302
    dave.refresh_from_db()
    assert dave.is_superuser and dave.is_staff
    event = AuditEvent.objects.get(id__gt=since)
    assert (event.action, event.actor, event.detail["user"]) == ("user.updated", "admin", "dave")
    assert event.detail["changes"] == {"is_superuser": [False, True], "is_staff": [False, True]}


def test_changing_a_password_is_recorded_without_the_hash(signed_in, dave):
    old_hash = dave.password
    since = last_audit_id()

    response = signed_in.post(
        url(User, "password_change", dave.pk),
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    dave.refresh_from_db()
    assert dave.check_password(NEW_PASSWORD)
    event = AuditEvent.objects.get(id__gt=since)
    assert event.action == "user.updated"
    assert event.detail["changes"] == {"password": "changed"}
    assert old_hash not in str(event.detail) and dave.password not in str(event.detail)


def test_a_mistyped_password_changes_nothing_and_records_nothing(signed_in, dave):
    since = last_audit_id()

    response = signed_in.post(
        url(User, "password_change", dave.pk),
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": "something else"},
    )

    assert response.status_code == 200
    assert "didn’t match" in response.content.decode()
    dave.refresh_from_db()
    assert not dave.check_password(NEW_PASSWORD)
    assert audit_actions(since) == []


def test_adding_and_deleting_a_user_are_recorded(signed_in, platform):
    page = signed_in.get(url(User, "add"))
    since = last_audit_id()
    data = form_data(
        page,
        username="erin",
        password1=NEW_PASSWORD,
        password2=NEW_PASSWORD,
        usable_password="true",
    )

    assert signed_in.post(url(User, "add"), data).status_code == 302
    erin = User.objects.get(username="erin")
    assert signed_in.post(url(User, "delete", erin.pk), {"post": "yes"}).status_code == 302

    assert not User.objects.filter(username="erin").exists()
    assert audit_actions(since) == ["user.created", "user.deleted"]
    created = AuditEvent.objects.get(id__gt=since, action="user.created")
    assert created.detail["password"] == "set" and "password" not in created.detail["fields"]


def test_a_staff_user_without_the_admin_role_cannot_make_anyone_superuser(client, dave, alice):
    # Django's own permissions alone (staff + "change user") would let dave promote himself.
    dave.is_staff = True
    dave.save()
    dave.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client.force_login(dave)

    response = client.post(url(User, "change", dave.pk), {"username": "dave", "is_superuser": "on"})

    assert response.status_code == 403
    dave.refresh_from_db()
    assert not dave.is_superuser


# --- role grants -----------------------------------------------------------------------------


def test_changing_a_grants_role_moves_the_grant_and_records_a_revoke_and_a_grant(
    signed_in, alice, staging
):
    grant = RoleGrant.objects.get(user=alice, environment=staging)
    page = signed_in.get(url(RoleGrant, "change", grant.pk))
    since = last_audit_id()

    response = signed_in.post(url(RoleGrant, "change", grant.pk), form_data(page, role="approver"))

    assert response.status_code == 302
    grants = RoleGrant.objects.filter(user=alice, environment=staging)
    assert [g.role for g in grants] == ["approver"]
    assert audit_actions(since) == ["role.revoked", "role.granted"]
    revoked, granted = AuditEvent.objects.filter(id__gt=since).order_by("id")
    assert revoked.detail == {"user": "alice", "role": "deployer"}
    assert granted.detail == {"user": "alice", "role": "approver"}


def test_bulk_deleting_grants_records_one_revoke_for_each(signed_in, bob):
    grants = list(RoleGrant.objects.filter(user=bob).values_list("pk", flat=True))
    since = last_audit_id()

    response = signed_in.post(
        url(RoleGrant, "changelist"),
        {"action": "delete_selected", "_selected_action": grants, "post": "yes"},
    )

    assert response.status_code == 302
    assert not RoleGrant.objects.filter(user=bob).exists()
    assert audit_actions(since) == ["role.revoked", "role.revoked"]


def test_a_staging_admin_granting_on_production_is_refused_with_a_sentence(
    client, dave, staging, production
):
    dave.is_staff = True
    dave.save()
    codenames = ["view_rolegrant", "add_rolegrant"]
    dave.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    RoleGrant.objects.create(user=dave, role="admin", environment=staging)
    client.force_login(dave)
    since = last_audit_id()
    data = {"user": dave.pk, "role": "approver", "environment": production.pk}

    response = client.post(url(RoleGrant, "add"), data, follow=True)

    assert "dave needs the admin role on production to grant roles." in messages_of(response)
    assert not RoleGrant.objects.filter(user=dave, environment=production).exists()
    assert audit_actions(since) == []


# --- rollouts: history ---------------------------------------------------------------------


def test_deleting_a_rollout_is_refused_and_its_timeline_remains(
    signed_in, admin_user, staging, make_release
):
    rollout = make_rollout(make_release("1.0.0"), staging, admin_user)
    since = last_audit_id()

    single = signed_in.post(url(Rollout, "delete", rollout.pk), {"post": "yes"})
    bulk = signed_in.post(
        url(Rollout, "changelist"),
        {"action": "delete_selected", "_selected_action": [rollout.pk], "post": "yes"},
    )

    assert single.status_code == 403
    assert bulk.status_code == 200  # no delete action to run: the list again
    assert Rollout.objects.filter(pk=rollout.pk).exists()
    assert rollout.events.count() == 2
    assert audit_actions(since) == []


def test_a_rollout_page_shows_its_timeline_read_only(signed_in, admin_user, staging, make_release):
    rollout = make_rollout(make_release("1.0.0"), staging, admin_user)

    page = signed_in.get(url(Rollout, "change", rollout.pk))

    assert page.status_code == 200
    assert "step 1" in page.content.decode()
    assert signed_in.post(url(Rollout, "change", rollout.pk), {}).status_code == 403


# --- releases --------------------------------------------------------------------------------


def test_editing_an_unused_releases_notes_records_release_updated(signed_in, make_release):
    release = with_notes(make_release("1.1.0"), "first draft")
    page = signed_in.get(url(Release, "change", release.pk))
    since = last_audit_id()

    response = signed_in.post(url(Release, "change", release.pk), form_data(page, notes="final"))

    assert response.status_code == 302
    release.refresh_from_db()
    assert release.notes == "final"
    event = AuditEvent.objects.get(id__gt=since)
    assert event.action == "release.updated"
    assert event.detail == {"changes": {"notes": ["first draft", "final"]}}


def test_correcting_an_unused_releases_image_records_the_change(signed_in, make_release):
    release = make_release("1.4.0", services=("api-server",))
    old, new = image("api-server", digest_char="b"), image("api-server", digest_char="c")
    page = signed_in.get(url(Release, "change", release.pk))
    since = last_audit_id()

    response = signed_in.post(
        url(Release, "change", release.pk), form_data(page, **{"artifacts-0-image": new})
    )

    assert response.status_code == 302
    assert release.images() == {"api-server": new}
    event = AuditEvent.objects.get(id__gt=since)
    assert event.action == "release.updated"
    assert event.detail["changes"]["artifacts"] == [{"api-server": old}, {"api-server": new}]


def test_an_image_without_a_digest_is_refused_and_changes_nothing(signed_in, make_release):
    release = make_release("1.5.0", services=("api-server",))
    before = release.images()
    page = signed_in.get(url(Release, "change", release.pk))
    since = last_audit_id()
    tag_only = "us-docker.pkg.dev/acme/app/api-server:latest"

    response = signed_in.post(
        url(Release, "change", release.pk), form_data(page, **{"artifacts-0-image": tag_only})
    )

    assert response.status_code == 200
    assert "is not pinned by digest" in response.content.decode()
    assert release.images() == before
    assert audit_actions(since) == []


def test_editing_a_deployed_release_is_refused_with_a_sentence(
    signed_in, admin_user, staging, make_release
):
    release = with_notes(make_release("1.2.0"), "as deployed")
    make_rollout(release, staging, admin_user)
    page = signed_in.get(url(Release, "change", release.pk))
    since = last_audit_id()

    response = signed_in.post(
        url(Release, "change", release.pk), form_data(page, notes="rewritten"), follow=True
    )

    assert (
        "Release 1.2.0 has been deployed (staging); deployed releases are immutable. "
        "Register a new version instead."
    ) in messages_of(response)
    release.refresh_from_db()
    assert release.notes == "as deployed"
    assert audit_actions(since) == []


def test_releases_and_tokens_cannot_be_deleted_in_the_admin(signed_in, admin_user, make_release):
    release = make_release("1.3.0")
    create_token(admin_user, "ci")
    token = admin_user.api_tokens.get()

    assert signed_in.post(url(Release, "delete", release.pk), {"post": "yes"}).status_code == 403
    signed_in.post(
        url(type(token), "changelist"),
        {"action": "delete_selected", "_selected_action": [token.pk], "post": "yes"},
    )

    assert Release.objects.filter(pk=release.pk).exists()
    assert admin_user.api_tokens.filter(pk=token.pk).exists()


# --- every registered admin ------------------------------------------------------------------

# What a form needs, on top of what it shows, so that the test can save it. An admin that
# offers add or change without an entry here fails the test: say how to exercise it.
ADD_SAMPLES = {
    "auth.User": lambda: {
        "username": "newcomer",
        "usable_password": "true",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    },
    "platform_admin.RoleGrant": lambda: {
        "user": str(User.objects.get(username="dave").pk),
        "role": "viewer",
        "environment": str(Environment.objects.get(slug="staging").pk),
    },
}
CHANGE_SAMPLES = {
    "auth.User": {"first_name": "Changed"},
    "platform_admin.RoleGrant": {"role": "finance"},
    "deployments.Release": {"notes": "changed in the admin"},
}


@pytest.fixture
def rows_of_every_model(admin_user, alice, bob, carol, dave, staging, make_release):
    """Rows of every model the admin shows: enough to add, change and delete some."""
    Group.objects.create(name="auditors")
    PlatformSettings.load()
    for name in ("frank", "grace", "heidi"):
        User.objects.create_user(name, password="pw-" + name)
    used = make_release("2.0.0")
    make_rollout(used, staging, admin_user)
    make_release("2.1.0")  # the newest: unused, so the admin may correct it
    create_token(admin_user, "ci")


def _post_and_check(client, offered: bool, what: str, path: str, data: dict) -> None:
    """An offered view must save and audit; a refused one must change nothing at all."""
    before, since = fingerprint(), last_audit_id()
    response = client.post(path, data)
    changed, audited = fingerprint() != before, audit_actions(since)
    assert response.status_code in (200, 302, 403), f"{what}: {response.status_code}"
    if offered:
        assert changed and audited, f"{what} was offered but saved nothing audited"
    else:
        assert not changed and not audited, f"{what} is refused, yet something changed"


def _sample(model_admin, request, index: int):
    """The `index`-th newest row (or the oldest, for a model with fewer rows), the
    signed-in admin's own account aside."""
    rows = model_admin.get_queryset(request).order_by("-pk")
    if model_admin.model is User:
        rows = rows.exclude(pk=request.user.pk)
    rows = list(rows[: index + 1])
    if not rows:
        pytest.fail(f"Create a {model_admin.model._meta.label} in rows_of_every_model")
    return rows[min(index, len(rows) - 1)]


def test_every_registered_admin_audits_what_it_saves_and_refuses_the_rest(
    signed_in, admin_user, rows_of_every_model
):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        assert signed_in.get(url(model, "changelist")).status_code == 200, label
        offered = model_admin.has_add_permission(request)
        page = signed_in.get(url(model, "add"))
        extra = ADD_SAMPLES[label]() if offered and label in ADD_SAMPLES else {}
        if offered and not extra:
            pytest.fail(f"{label}: the admin offers add; give ADD_SAMPLES a way to save it")
        data = form_data(page, **extra) if page.status_code == 200 else {"name": "x"}
        _post_and_check(signed_in, offered, f"{label} add", url(model, "add"), data)

        obj = _sample(model_admin, request, 0)
        offered = model_admin.has_change_permission(request, obj)
        if offered and label not in CHANGE_SAMPLES:
            pytest.fail(f"{label}: the admin offers change; give CHANGE_SAMPLES a change")
        page = signed_in.get(url(model, "change", obj.pk))
        data = form_data(page, **CHANGE_SAMPLES.get(label, {}))
        _post_and_check(signed_in, offered, f"{label} change", url(model, "change", obj.pk), data)

        obj = _sample(model_admin, request, 1)
        offered = model_admin.has_delete_permission(request, obj)
        path = url(model, "delete", obj.pk)
        _post_and_check(signed_in, offered, f"{label} delete", path, {"post": "yes"})

        obj = _sample(model_admin, request, 1)  # the next row, if the delete took this one
        bulk = {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        offered = model_admin.has_delete_permission(request, obj)
        path = url(model, "changelist")
        _post_and_check(signed_in, offered, f"{label} bulk delete", path, bulk)

    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "chain intact" in out.getvalue()
