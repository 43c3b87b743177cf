from django.urls import path

from deployments import token_views, views

app_name = "deployments"
urlpatterns = [
    path("", views.index, name="index"),
    path("environments/<slug:slug>/", views.environment_detail, name="environment"),
    path("environments/<slug:slug>/history/", views.environment_history, name="history"),
    path("environments/<slug:slug>/deploy/", views.deploy, name="deploy"),
    path("environments/<slug:slug>/rollback/", views.rollback, name="rollback"),
    path("releases/", views.release_list, name="releases"),
    path("releases/new/", views.release_new, name="release_new"),
    path("releases/<str:version>/", views.release_detail, name="release"),
    path("rollouts/<int:pk>/", views.rollout_detail, name="rollout"),
    path("rollouts/<int:pk>/live/", views.rollout_live, name="rollout_live"),
    path("rollouts/<int:pk>/<str:action>/", views.rollout_action, name="rollout_action"),
    path("tokens/", token_views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", token_views.revoke, name="token_revoke"),
]
