"""The Costs page: thin views over `costs.pages` (database only, never Google)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import render

from costs import pages
from costs.bq_rows import PACIFIC
from costs.report import MONTH, UNALLOCATED
from platform_admin.models import Environment


def index(request):
    """The month (invoice month; the current one by default), or one environment of it
    with the drill-down: ?month=YYYY-MM&env=SLUG&path=component&path=service."""
    from django.utils import timezone

    today = timezone.now().astimezone(PACIFIC).date()
    month = request.GET.get("month") or f"{today:%Y-%m}"
    if not MONTH.match(month):
        messages.error(request, f"{month[:20]!r} is not a month like 2026-10: showing this month.")
        month = f"{today:%Y-%m}"
    env = request.GET.get("env", "")
    if env and env != UNALLOCATED and not Environment.objects.filter(slug=env).exists():
        raise Http404(f"no environment {env}")
    path = [p for p in request.GET.getlist("path") if p][:3]
    context = pages.costs_page(month, today, env, path)
    return render(request, "costs/index.html", context)
