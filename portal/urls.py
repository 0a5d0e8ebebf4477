"""The site's URLs (ROOT_URLCONF): every app's pages and API, and the pages that show several apps."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from cohorts import api as cohorts_api
from dosing import api as dosing_api
from escalation import api as escalation_api
from response import api as response_api
from toxicity import api as toxicity_api

from . import views

router = DefaultRouter()
router.register("trials", cohorts_api.TrialViewSet, basename="trial")
router.register("sites", cohorts_api.SiteViewSet, basename="site")
router.register("dose-levels", cohorts_api.DoseLevelViewSet, basename="dose-level")
router.register("patients", cohorts_api.PatientViewSet, basename="patient")
router.register("enrolments", cohorts_api.EnrolmentViewSet, basename="enrolment")
router.register("cycles", dosing_api.CycleViewSet, basename="cycle")
router.register("planned-doses", dosing_api.PlannedDoseViewSet, basename="planned-dose")
router.register("administrations", dosing_api.AdministrationViewSet, basename="administration")
router.register("modifications", dosing_api.ModificationViewSet, basename="modification")
router.register("off-treatment", dosing_api.OffTreatmentViewSet, basename="off-treatment")
router.register("assessments", response_api.AssessmentViewSet, basename="assessment")
router.register("follow-up", response_api.FollowUpViewSet, basename="follow-up")
router.register("responses", response_api.ResponseViewSet, basename="response")
router.register("decisions", escalation_api.DecisionViewSet, basename="decision")
router.register("adverse-events", toxicity_api.AdverseEventViewSet, basename="adverse-event")
router.register("labs", toxicity_api.LabResultViewSet, basename="lab")
router.register("conmeds", toxicity_api.ConMedViewSet, basename="conmed")
router.register("dlt-proposals", toxicity_api.DltProposalViewSet, basename="dlt-proposal")
router.register("dlts", toxicity_api.DltViewSet, basename="dlt")
router.register("dlt-evaluations", toxicity_api.DltEvaluationViewSet, basename="dlt-evaluation")

# Under /api/ Django's own error answers are JSON in the API's format too (trialsite.api), also with DEBUG off.
handler400 = "trialsite.api.bad_request"
handler403 = "trialsite.api.permission_denied"
handler404 = "trialsite.api.page_not_found"
handler500 = "trialsite.api.server_error"

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/worklist/", dosing_api.WorklistView.as_view(), name="api-worklist"),
    path("api/v1/trials/<str:code>/escalation/", escalation_api.EscalationStateView.as_view(), name="api-escalation"),
    path("api/v1/trials/<str:code>/design/", escalation_api.DesignView.as_view(), name="api-design"),
    path("api/v1/trials/<str:code>/design/oc/", escalation_api.DesignOcView.as_view(), name="api-design-oc"),
    path("api/v1/trials/<str:code>/endpoints/", response_api.EndpointsView.as_view(), name="api-endpoints"),
    path("api/v1/trials/<str:code>/recompute/", response_api.RecomputeView.as_view(), name="api-recompute"),
    path("api/v1/ctcae-terms/", toxicity_api.CtcaeTermsView.as_view(), name="api-ctcae-terms"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("trials/<str:code>/", views.trial_home, name="trial_home"),
    path("patients/<str:study_id>/", views.patient_detail, name="patient_detail"),
    path("worklist/", views.worklist, name="worklist"),
    path("visits/<int:pk>/", views.visit_record, name="visit_record"),
    path("visits/<int:pk>/missed/", views.visit_missed, name="visit_missed"),
    path("patients/<str:study_id>/calendar/", views.patient_calendar, name="patient_calendar"),
    path("patients/<str:study_id>/casebook/", views.patient_casebook, name="patient_casebook"),
    path("", include("escalation.urls")),
    path("", include("dosing.urls")),
    path("", include("toxicity.urls")),
    path("", include("response.urls")),
    path("", include("datamanagement.urls")),
    path("", include("datamanagement.audit_urls")),
    path("", include("datamanagement.quality_urls")),
    path("", include("cohorts.urls")),
]
