from django.urls import path

from monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.environment, name="environment"),
    path("<slug:slug>/<str:service>/", views.service, name="service"),
]
