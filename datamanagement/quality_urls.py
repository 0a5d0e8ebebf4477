from django.urls import path

from . import quality_views

urlpatterns = [
    path("patients/<str:study_id>/queries/", quality_views.patient_queries, name="patient_queries"),
    path("trials/<str:code>/queries/", quality_views.trial_queries, name="trial_queries"),
]
