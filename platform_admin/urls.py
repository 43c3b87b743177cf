from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from costs import api as costs_api
from costs import overview as costs_overview
from deployments import overview as deployments_overview
from deployments.api import api
from deployments.api import urls as api_urls
from monitoring import api as monitoring_api
from monitoring import overview as monitoring_overview
from platform_admin import views
from platform_admin.overview import overview_view

# The Overview asks each app for its part; this file is the one place that wires them all.
# The API is deployments' (its token auth); the apps below it add their read-only routers.
api.add_router("/", monitoring_api.router)
api.add_router("/", costs_api.router)

overview = overview_view([deployments_overview.PART, monitoring_overview.PART, costs_overview.PART])

urlpatterns = [
    path("", overview, name="overview"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", views.audit_list, name="audit"),
    path("audit.csv", views.audit_csv, name="audit_csv"),
    path("deployments/", include("deployments.urls")),
    path("api/v1/", api_urls()),  # token auth; each view is login_not_required
    path("health/", include("monitoring.urls")),
    path("costs/", include("costs.urls")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
