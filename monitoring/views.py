"""The Health pages: thin views over `monitoring.pages` (database only, never Google)."""

from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from monitoring import pages
from platform_admin.models import Environment


def index(request):
    """Every environment and service with its badge, live release and budget left."""
    rows = pages.overview_rows(list(Environment.objects.all()), timezone.now())
    return render(request, "monitoring/index.html", {"rows": rows})


def environment(request, slug: str):
    env = pages.environment_for_page(slug)
    content = pages.environment_html(env, timezone.now())
    return render(request, "monitoring/environment.html", {"environment": env, "content": content})


def service(request, slug: str, service: str):
    env = get_object_or_404(Environment, slug=slug)
    if not env.services.filter(name=service).exists():
        raise Http404(f"{env.slug} has no service {service}")
    window = request.GET.get("window", "24h")
    if window not in pages.WINDOWS:
        window = "24h"
    context = pages.service_page(env, service, window, timezone.now())
    return render(request, "monitoring/service.html", context)
