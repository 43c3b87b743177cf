from django.shortcuts import render

from platform_admin.models import Environment, PlatformSettings


def index(request):
    """Monthly targets per environment; actuals arrive with the billing import work."""
    return render(
        request,
        "costs/index.html",
        {"environments": Environment.objects.all(), "platform": PlatformSettings.load()},
    )
