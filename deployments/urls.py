from django.urls import path

from deployments import views

app_name = "deployments"
urlpatterns = [
    path("", views.index, name="index"),
    path("environments/<slug:slug>/", views.environment_detail, name="environment"),
    path("releases/", views.release_list, name="releases"),
    path("releases/<str:version>/", views.release_detail, name="release"),
    path("rollouts/<int:pk>/", views.rollout_detail, name="rollout"),
]
