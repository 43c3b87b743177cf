"""The health JSON for scripts and CI, on the project's API (/api/v1/, token auth): the
same figures as the pages, from the database only."""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router

from monitoring import pages
from platform_admin.models import Environment

router = Router(tags=["health"])


@router.get("/environments/{slug}/health")
def environment_health(request, slug: str):
    """Per service: what is live, request rate, error rate, P95, SLO, 30-day uptime,
    error budget left, burn rates and status. `as_of` = when the data was sampled."""
    environment = get_object_or_404(Environment, slug=slug)
    return pages.api_health(environment, timezone.now())
