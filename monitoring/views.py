from django.shortcuts import render

from platform_admin.models import Environment


def index(request):
    """Per-environment objectives; live samples arrive with the health collection work."""
    return render(request, "monitoring/index.html", {"environments": Environment.objects.all()})
