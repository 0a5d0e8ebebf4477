from django.urls import path

from . import views

urlpatterns = [
    path("trials/<str:code>/exports/", views.exports_page, name="trial_exports"),
    path("trials/<str:code>/exports/dictionary.csv", views.export_dictionary, name="export_dictionary"),
    path("trials/<str:code>/exports/cdisc/<str:dataset>.csv", views.export_cdisc_csv, name="export_cdisc_csv"),
    path("trials/<str:code>/exports/<str:domain>.csv", views.export_csv, name="export_csv"),
    path("exports/jobs/<int:pk>/", views.export_job, name="export_job"),
    path("exports/jobs/<int:pk>/download/", views.export_download, name="export_download"),
    path("exports/jobs/<int:pk>/retry/", views.export_retry, name="export_retry"),
]
