"""Too many failed sign-ins lock the account and the address out for a while, audited."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.utils import timezone

from platform_admin.models import AuditEvent

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-ins for this account or address; try again in 15 minutes."
ADDRESS, OTHER_ADDRESS = "203.0.113.9", "198.51.100.20"


def sign_in(client, username, password, address=ADDRESS, **headers):
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username, times, address=ADDRESS):
    return [sign_in(client, username, "wrong", address) for _ in range(times)]


def test_25_wrong_passwords_then_the_right_one_is_refused_with_a_sentence(client, alice):
    responses = fail(client, "alice", 25)

    assert [r.status_code for r in responses[:9]] == [200] * 9
    assert all("didn't match" in r.content.decode() for r in responses[:9])
    assert {r.status_code for r in responses[9:]} == {429}
    right = sign_in(client, "alice", "pw-alice")
    assert right.status_code == 429
    page = right.content.decode()
    assert LOCKED in page and "didn't match" not in page
    assert '<form method="post"' in page and 'value="alice"' in page  # the login page itself
    assert not signed_in(client)


def test_another_account_from_the_same_address_is_refused_after_the_address_limit(client, bob):
    for n in range(10):  # ten different names, one wrong password each
        sign_in(client, f"guess{n}", "wrong")

    refused = sign_in(client, "bob", "pw-bob")
    assert refused.status_code == 429 and LOCKED in refused.content.decode()
    assert not signed_in(client)

    assert sign_in(client, "bob", "pw-bob", OTHER_ADDRESS).status_code == 302
    assert signed_in(client)


def test_an_account_is_locked_whichever_address_the_attempts_come_from(client, alice):
    for n in range(10):
        sign_in(client, "alice", "wrong", f"192.0.2.{n + 1}")

    assert sign_in(client, "alice", "pw-alice", OTHER_ADDRESS).status_code == 429
    assert not signed_in(client)


def test_the_lockout_is_audited_once_with_the_username_and_address(client, alice):
    fail(client, "alice", 12)
    sign_in(client, "alice", "pw-alice")

    lockout = AuditEvent.objects.get(action="login.locked_out")
    assert (lockout.actor, lockout.ip) == ("alice", ADDRESS)
    assert lockout.detail["username"] == "alice" and lockout.detail["ip"] == ADDRESS
    assert lockout.detail["failures"] == 10 and lockout.detail["cooloff_minutes"] == 15
    # Every refused attempt, the right password too, is still a failed login in the trail.
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 13
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked_not_the_proxy(
    client, settings, alice, bob
):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "198.51.100.1"  # a documentation address: no traffic goes anywhere
    for _ in range(10):
        sign_in(client, "alice", "wrong", proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.77")

    assert AuditEvent.objects.get(action="login.locked_out").ip == "203.0.113.77"
    other_client = sign_in(client, "bob", "pw-bob", proxy, HTTP_X_FORWARDED_FOR=OTHER_ADDRESS)
    assert other_client.status_code == 302


def test_the_admin_login_is_throttled_too(client, admin_user):
    fail(client, "admin", 10)

    response = client.post(
        "/admin/login/",
        {"username": "admin", "password": "pw-admin", "next": "/admin/"},
        REMOTE_ADDR=ADDRESS,
    )
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert not signed_in(client)


def test_the_right_password_works_again_once_the_cool_off_has_passed(client, alice):
    fail(client, "alice", 10)
    assert sign_in(client, "alice", "pw-alice").status_code == 429

    # Fifteen minutes and a second later, as far as the recorded attempts are concerned.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))

    assert sign_in(client, "alice", "pw-alice").status_code == 302
    assert signed_in(client)


@pytest.mark.parametrize("command", [["axes_reset"], ["axes_reset_username", "alice"]])
def test_an_admin_resets_a_lockout_from_the_command_line(client, alice, command):
    fail(client, "alice", 25)
    assert sign_in(client, "alice", "pw-alice").status_code == 429

    call_command(*command, verbosity=0)

    assert sign_in(client, "alice", "pw-alice").status_code == 302
    assert signed_in(client)
