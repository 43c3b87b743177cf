from django.shortcuts import get_object_or_404, render

from deployments.models import Environment, Release, Rollout


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
    rollouts = environment.rollouts.select_related("release", "started_by")[:20]
    return render(
        request,
        "deployments/environment.html",
        {"environment": environment, "rollouts": rollouts},
    )


def release_list(request):
    releases = Release.objects.prefetch_related("artifacts").select_related("created_by")
    return render(request, "deployments/releases.html", {"releases": releases})


def release_detail(request, version):
    release = get_object_or_404(Release.objects.prefetch_related("artifacts"), version=version)
    rollouts = release.rollouts.select_related("environment", "started_by")
    return render(request, "deployments/release.html", {"release": release, "rollouts": rollouts})


def rollout_detail(request, pk):
    rollout = get_object_or_404(
        Rollout.objects.select_related("release", "environment", "started_by"), pk=pk
    )
    return render(
        request, "deployments/rollout.html", {"rollout": rollout, "events": rollout.events.all()}
    )
