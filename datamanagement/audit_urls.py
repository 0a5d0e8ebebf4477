from django.urls import path

from . import audit_views

urlpatterns = [
    path("trials/<str:code>/audit/", audit_views.audit_trail, name="trial_audit"),
]
