from django.urls import path

from . import views

urlpatterns = [
    path("patients/<str:study_id>/treatment/", views.patient_treatment, name="patient_treatment"),
    path("patients/<str:study_id>/cycles/<int:number>/diary/<str:drug>/", views.cycle_diary, name="cycle_diary"),
    path("patients/<str:study_id>/cycles/<int:number>/doses/<str:drug>/<int:day>/", views.cycle_dose, name="cycle_dose"),
]
