from django.urls import path

from . import views

urlpatterns = [
    path("patients/<str:study_id>/safety/", views.patient_safety, name="patient_safety"),
    path("patients/<str:study_id>/adverse-events/new/", views.ae_new, name="ae_new"),
    path("patients/<str:study_id>/adverse-events/<int:pk>/", views.ae_edit, name="ae_edit"),
    path("patients/<str:study_id>/conmeds/new/", views.conmed_new, name="conmed_new"),
    path("patients/<str:study_id>/conmeds/<int:pk>/", views.conmed_edit, name="conmed_edit"),
    path("dlt-review/", views.dlt_review, name="dlt_review"),
    path("dlt-review/<int:pk>/", views.dlt_adjudicate, name="dlt_adjudicate"),
]
