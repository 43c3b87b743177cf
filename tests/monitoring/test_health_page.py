"""The Health page reads rollouts from the platform's timeline (the audit trail), never
from the deployments app."""

from deployments import services


def test_the_health_page_lists_each_environments_last_rollouts_from_the_audit_trail(
    client, alice, staging, production, make_release
):
    release = make_release("6.0.0")
    services.start_rollout(alice, release, staging, "canary")
    client.force_login(alice)

    page = client.get("/health/").content.decode()

    staging_row = page.split('data-environment="staging"')[1].split("</tr>")[0]
    production_row = page.split('data-environment="production"')[1].split("</tr>")[0]
    assert "6.0.0 started" in staging_row and "by alice" in staging_row
    assert "none yet" in production_row


def test_rollout_marks_filter_by_environment_and_window(alice, staging, make_release):
    from datetime import timedelta

    from django.utils import timezone

    from platform_admin.timeline import rollout_marks

    rollout = services.start_rollout(alice, make_release("6.1.0"), staging, "canary")
    services.abort(alice, rollout, "wrong one")

    marks = rollout_marks(["staging"])
    assert [(m.what, m.release, m.rollout_id) for m in marks] == [
        ("aborted", "6.1.0", str(rollout.pk)),
        ("started", "6.1.0", str(rollout.pk)),
    ]
    assert rollout_marks(["production"]) == []
    assert rollout_marks(["staging"], since=timezone.now() + timedelta(seconds=1)) == []
