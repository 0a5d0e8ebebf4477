from django.urls import path

from . import views

urlpatterns = [
    path("patients/<str:study_id>/response/", views.patient_response, name="patient_response"),
    path("trials/<str:code>/response/", views.trial_dashboard, name="trial_response"),
    path("trials/<str:code>/response/<str:plot>.svg", views.plot_download, name="trial_response_plot"),
]
