from django.urls import path

from costs import views

app_name = "costs"
urlpatterns = [
    path("", views.index, name="index"),
    path("import/", views.upload, name="upload"),
    path("targets/", views.set_target, name="set_target"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("estimate/<slug:slug>/", views.estimate, name="estimate"),
    path("imports/", views.import_history, name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import"),
    path("imports/<int:pk>/part/", views.import_part, name="import_part"),
]
