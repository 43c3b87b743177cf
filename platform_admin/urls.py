from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from deployments.api import urls as api_urls
from platform_admin import views

urlpatterns = [
    path("", views.overview, name="overview"),
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
