from django.urls import path

from . import views

urlpatterns = [
    path("trials/<str:code>/escalation/", views.trial_escalation, name="trial_escalation"),
    path("trials/<str:code>/design/", views.trial_design, name="trial_design"),
    path("trials/<str:code>/design/oc.svg", views.trial_design_plot, name="trial_design_plot"),
]
