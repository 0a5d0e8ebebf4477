from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.patient_search, name="patient_search"),
    path("trials/<str:code>/patients/", views.patient_list, name="patient_list"),
    path("trials/<str:code>/patients/new/", views.patient_register, name="patient_register"),
    path("patients/<str:study_id>/edit/", views.patient_edit, name="patient_edit"),
    path("patients/<str:study_id>/enrol/", views.patient_enrol, name="patient_enrol"),
    path("patients/<str:study_id>/status/", views.patient_status, name="patient_status"),
]
