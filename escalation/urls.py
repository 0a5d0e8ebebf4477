from django.urls import path

from . import views

urlpatterns = [
    path("trials/<str:code>/escalation/", views.trial_escalation, name="trial_escalation"),
]
