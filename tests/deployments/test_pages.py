"""Deployment pages: they render from the database and call the service functions."""

from deployments.models import Rollout, RolloutEvent, RolloutState

S = RolloutState


def test_deploy_form_shows_the_diff_and_starts_a_rollout(client, alice, staging, make_release):
    make_release("1.4.0", services=("api-server",))
    client.force_login(alice)
    page = client.get("/deployments/environments/staging/deploy/?release=1.4.0")
    assert page.status_code == 200 and b"api-server" in page.content
    response = client.post(
        "/deployments/environments/staging/deploy/", {"release": "1.4.0", "strategy": "canary"}
    )
    rollout = Rollout.objects.get()
    assert response.status_code == 302 and response["Location"] == rollout.get_absolute_url()


def test_deploy_form_reports_a_refusal_without_changing_anything(
    client, dave, staging, make_release
):
    make_release("1.4.0")
    client.force_login(dave)
    response = client.post(
        "/deployments/environments/staging/deploy/", {"release": "1.4.0"}, follow=True
    )
    assert b"needs the deployer role on staging" in response.content
    assert not Rollout.objects.exists()


def test_rollout_page_shows_steps_traffic_analyses_and_allowed_controls(
    client, alice, bob, production, make_release
):
    rollout = Rollout.objects.create(
        release=make_release("1.4.0"),
        environment=production,
        started_by=alice,
        state=S.CANARY,
        steps=[5, 25, 50, 100],
        step=1,
        started_at="2025-01-01T00:00:00Z",
        traffic={"api-server": {"api-server-old": 75, "api-server-1-4-0-r1": 25}},
        plan=[{"service": "api-server", "kind": "cloud_run", "image": "img"}],
    )
    RolloutEvent.objects.create(
        rollout=rollout,
        kind="analysis",
        message="api-server canary healthy at step 5%",
        data={
            "service": "api-server",
            "step": 5,
            "verdict": "pass",
            "canary": {"requests": 40, "errors": 0, "error_rate": 0.0, "p95_ms": 95.0},
            "stable": {"requests": 760, "errors": 1, "error_rate": 0.0013, "p95_ms": 90.0},
            "thresholds": {"max_error_rate": 0.005, "p95_ms": 200, "min_requests": 10},
        },
    )
    client.force_login(alice)
    live = client.get(f"/deployments/rollouts/{rollout.pk}/live/").content.decode()
    assert 'aria-current="step">25%' in live
    assert "api-server-1-4-0-r1" in live and "0.50%" in live
    assert 'data-action="pause"' in live and 'data-action="approve"' not in live
    client.force_login(bob)  # an approver but not a deployer on production: no controls
    live = client.get(f"/deployments/rollouts/{rollout.pk}/live/").content.decode()
    assert 'data-action="pause"' not in live
    page = client.get(f"/deployments/rollouts/{rollout.pk}/")
    assert b"js/live.js" in page.content


def test_control_buttons_post_to_the_service_functions(client, alice, staging, make_release):
    rollout = Rollout.objects.create(
        release=make_release("1.4.0"), environment=staging, started_by=alice, state=S.CANARY
    )
    client.force_login(alice)
    client.post(f"/deployments/rollouts/{rollout.pk}/pause/")
    rollout.refresh_from_db()
    assert rollout.state == S.PAUSED


def test_environment_release_and_history_pages_render(client, alice, staging, make_release):
    release = make_release("1.4.0")
    Rollout.objects.create(
        release=release,
        environment=staging,
        started_by=alice,
        state=S.SUCCEEDED,
        revisions={"api-server": {"canary": "api-server-1-4-0-r9"}},
        traffic={"api-server": {"api-server-1-4-0-r9": 100}},
    )
    client.force_login(alice)
    env_page = client.get("/deployments/environments/staging/").content.decode()
    assert "api-server-1-4-0-r9" in env_page and "1.4.0" in env_page
    assert client.get("/deployments/environments/staging/history/").status_code == 200
    assert client.get("/deployments/releases/1.4.0/").status_code == 200


def _phases(html: str) -> list[str]:
    import re

    steps = re.search(r'<ol class="steps"[^>]*>(.*?)</ol>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", li) for li in re.findall(r"<li.*?</li>", steps)]


def test_the_rollout_page_shows_where_the_vm_goes_before_the_rollout_starts(
    client, alice, production, make_release
):
    from deployments import services
    from platform_admin.models import VmPhase

    production.bake_seconds, production.verify_seconds = 300, 120
    production.promote_from = None
    production.save()
    release = make_release("1.4.0", services=("api-server", "livekit"))
    rollout = services.start_rollout(alice, release, production, "canary")
    assert rollout.state == S.PENDING_APPROVAL
    client.force_login(alice)
    live = client.get(f"/deployments/rollouts/{rollout.pk}/live/").content.decode()
    job = "migrate (api-server image)"
    assert _phases(live) == [job, "5%", "25%", "50%", "100%", "livekit (VM)", "verify 120 s"]
    assert 'class="phase-vm"' in live
    assert 'aria-current="step"' not in live  # nothing runs before the approval

    production.vm_phase, production.verify_seconds = VmPhase.BEFORE, None
    production.save()
    services.abort(alice, rollout)
    rollout = services.start_rollout(
        alice, make_release("1.5.0", services=("api-server", "livekit")), production, "canary"
    )
    live = client.get(f"/deployments/rollouts/{rollout.pk}/live/").content.decode()
    assert _phases(live) == [job, "livekit (VM)", "5%", "25%", "50%", "100%", "verify 300 s"]


def test_the_rollout_page_puts_the_site_after_the_cloud_run_services(
    client, alice, staging, make_release
):
    from deployments import services
    from deployments.models import ReleaseArtifact

    release = make_release("1.6.0", services=("api-server",))
    ReleaseArtifact.objects.create(
        release=release, service_name="frontend", image="gs://acme-builds/frontend/builds/1.6.0/"
    )
    staging.requires_approval = True
    staging.save()
    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    client.force_login(alice)
    live = client.get(f"/deployments/rollouts/{rollout.pk}/live/").content.decode()
    verify = f"verify {staging.verification_seconds} s"
    assert _phases(live) == ["migrate (api-server image)", "100%", "frontend (site)", verify]
