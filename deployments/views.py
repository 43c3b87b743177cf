"""Deployment pages. Thin: rules live in deployments.services, reads in deployments.live."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from costs.services import budget_status
from deployments import services
from deployments.errors import DeploymentError
from deployments.forms import ReleaseForm
from deployments.live import artifact_diff, live_costs, live_services, release_cost
from deployments.models import Release, Rollout, RolloutState
from platform_admin.models import Environment, Role, ServiceKind
from platform_admin.roles import has_role


def _reason(exc: Exception) -> str:
    """The sentence a refused service call gives (DeploymentError or PermissionDenied)."""
    return getattr(exc, "message", None) or str(exc)


def index(request):
    environments = Environment.objects.prefetch_related("services")
    rollouts = Rollout.objects.select_related("release", "environment", "started_by")[:20]
    releases = Release.objects.prefetch_related("artifacts")[:10]
    return render(
        request,
        "deployments/index.html",
        {"environments": environments, "rollouts": rollouts, "releases": releases},
    )


def environment_detail(request, slug):
    environment = get_object_or_404(Environment.objects.prefetch_related("services"), slug=slug)
    rollouts = environment.rollouts.select_related("release", "started_by")[:10]
    choices = services.rollback_choices(environment)
    return render(
        request,
        "deployments/environment.html",
        {
            "environment": environment,
            "rollouts": rollouts,
            "live": live_services(environment),
            "rollback_choices": choices,
            "rollback_warnings": services.rollback_warnings(environment, choices),
            "can_deploy": has_role(request.user, Role.DEPLOYER, environment),
        },
    )


def environment_history(request, slug):
    environment = get_object_or_404(Environment, slug=slug)
    rollouts = environment.rollouts.select_related("release", "environment", "started_by")
    page = Paginator(rollouts, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "deployments/history.html",
        {"environment": environment, "rollouts": page.object_list, "page": page},
    )


def deploy(request, slug):
    """The deploy form: pick a release, see what changes against what is live, start."""
    environment = get_object_or_404(Environment, slug=slug)
    releases = Release.objects.prefetch_related("artifacts")[:50]
    version = request.POST.get("release") or request.GET.get("release") or ""
    release = Release.objects.filter(version=version).first() if version else None
    if request.method == "POST" and release is not None:
        try:
            rollout = services.start_rollout(
                request.user,
                release,
                environment,
                request.POST.get("strategy", ""),
                budget_override=request.POST.get("budget_override_reason", ""),
            )
        except (DeploymentError, PermissionDenied) as exc:
            messages.error(request, _reason(exc))
        else:
            return redirect(rollout)
    elif request.method == "POST":
        messages.error(request, "Pick a release to deploy.")
    return render(
        request,
        "deployments/deploy.html",
        {
            "environment": environment,
            "releases": releases,
            "release": release,
            "diff": artifact_diff(release, environment) if release else [],
            "cost": release_cost(release, environment) if release else None,
            "strategies": Rollout.Strategy.choices,
            "can_deploy": has_role(request.user, Role.DEPLOYER, environment),
            "budget": budget_status(environment),
            "can_override": has_role(request.user, Role.APPROVER, environment),
        },
    )


@require_POST
def rollback(request, slug):
    environment = get_object_or_404(Environment, slug=slug)
    try:
        rollout = services.rollback(
            request.user,
            environment,
            request.POST.get("release", ""),
            emergency=request.POST.get("emergency") == "on",
            reason=request.POST.get("reason", ""),
        )
    except (DeploymentError, PermissionDenied) as exc:
        messages.error(request, _reason(exc))
        return redirect(environment)
    return redirect(rollout)


def release_new(request):
    """Register a release from the browser: a version and one image digest per service."""
    form = ReleaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            release = services.create_release(
                request.user,
                form.cleaned_data["version"],
                form.artifacts(),
                notes=form.cleaned_data["notes"],
                resources=form.resources(),
            )
        except (DeploymentError, PermissionDenied) as exc:
            form.add_error(None, _reason(exc))
        else:
            messages.success(request, f"Release {release.version} registered.")
            return redirect(release)
    return render(request, "deployments/release_new.html", {"form": form})


def release_list(request):
    releases = Release.objects.prefetch_related("artifacts").select_related("created_by")
    return render(request, "deployments/releases.html", {"releases": releases})


def release_detail(request, version):
    release = get_object_or_404(Release.objects.prefetch_related("artifacts"), version=version)
    rollouts = release.rollouts.select_related("release", "environment", "started_by")
    return render(
        request,
        "deployments/release.html",
        {
            "release": release,
            "rollouts": rollouts,
            "environments": Environment.objects.all(),
            "live_costs": live_costs(release),
        },
    )


def _rollout_context(request, pk) -> dict:
    rollout = get_object_or_404(
        Rollout.objects.select_related("release", "environment", "started_by", "approved_by"),
        pk=pk,
    )
    events = list(rollout.events.all())
    actions = services.allowed_actions(request.user, rollout)
    return {
        "rollout": rollout,
        "events": events,
        "analyses": [e for e in events if e.kind == "analysis"],
        "steps": _phases(rollout),
        "actions": actions,
        "budget": services.approval_budget(rollout) if "approve" in actions else None,
    }


def _phases(rollout: Rollout) -> list[dict]:
    """The rollout's phases in the order it runs them, shown before it starts: the
    pre-deploy job (migrations), the VMs where the environment puts them, the traffic
    steps, the static sites once the Cloud Run services serve 100%, the verification."""
    vms = rollout.planned(ServiceKind.GCE_VM)
    sites = rollout.planned(ServiceKind.STATIC_SITE)
    cloud_run = bool(rollout.planned(ServiceKind.CLOUD_RUN))
    units = [
        ({"label": f"{', '.join(vms)} (VM)", "kind": "vm"}, vms, rollout.vms_go_first),
        ({"label": f"{', '.join(sites)} (site)", "kind": "site"}, sites, rollout.sites_go_first),
    ]
    job = rollout.jobs.get("pre_deploy")
    phases = []
    if job:
        label = f"migrate ({job['image_of']} image)"
        phases.append({"label": label, "kind": "job", "state": RolloutState.MIGRATING})
    before = RolloutState.DEPLOYING
    phases += [{**unit, "state": before} for unit, names, first in units if names and first]
    if cloud_run:
        phases += [
            {"label": f"{pct}%", "kind": "step", "state": RolloutState.CANARY, "step": i}
            for i, pct in enumerate(rollout.steps or [100])
        ]
    after = "after the canary"
    phases += [{**unit, "state": after} for unit, names, first in units if names and not first]
    if rollout.verifies:
        label = f"verify {rollout.verify_seconds} s"
        phases.append({"label": label, "kind": "verify", "state": RolloutState.VERIFYING})
    state = rollout.paused_from if rollout.state == RolloutState.PAUSED else rollout.state
    on_step = rollout.current_percent is not None
    current = next(
        (
            i
            for i, phase in enumerate(phases)
            if phase["state"] == state
            and (phase["kind"] != "step" or on_step)
            and phase.get("step", rollout.step) == rollout.step
        ),
        None,
    )
    succeeded = rollout.state == RolloutState.SUCCEEDED
    for i, phase in enumerate(phases):
        phase["current"] = rollout.is_active and i == current
        reached = current is not None and i < current
        stepped = phase["kind"] == "step" and phase["step"] < rollout.step
        phase["done"] = succeeded or reached or stepped
    return phases


def rollout_detail(request, pk):
    context = _rollout_context(request, pk)
    rollout = context["rollout"]
    if rollout.state in (RolloutState.PENDING_APPROVAL, RolloutState.QUEUED):
        context["cost"] = release_cost(rollout.release, rollout.environment)
    return render(request, "deployments/rollout.html", context)


def rollout_live(request, pk):
    """The live part of the rollout page, polled by static/js/live.js."""
    return render(request, "deployments/_rollout_live.html", _rollout_context(request, pk))


@require_POST
def rollout_action(request, pk, action):
    rollout = get_object_or_404(Rollout, pk=pk)
    try:
        services.apply_action(request.user, rollout, action, request.POST.get("reason", ""))
    except (DeploymentError, PermissionDenied) as exc:
        messages.error(request, _reason(exc))
    else:
        messages.success(request, f"Rollout #{rollout.pk}: {action} done.")
    return redirect(rollout)
