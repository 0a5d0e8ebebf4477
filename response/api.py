"""REST endpoints for response: assessments, follow-up, computed responses, endpoints, whole-trial recompute."""

from django.db.models.fields.json import KeyTextTransform
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasRole
from cohorts import selectors as cohort_selectors
from cohorts.api import PatientRef, PatientScoped, ServiceCreate
from trialsite.api import ErrorSerializer
from trialsite.idempotency import idempotent_action

from . import selectors, services
from .models import EndpointSnapshot, FollowUp, MyelomaAssessment, RecomputeJob, ResponseResult

VALUE_FIELDS = list(services.UNITS)  # the values an assessment records, with their units
FLAG_FIELDS = list(services.FLAGS)


class AssessmentSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    ratio = serializers.DecimalField(max_digits=12, decimal_places=4, read_only=True, allow_null=True)
    dflc = serializers.SerializerMethodField(
        help_text="Involved minus uninvolved light chain (mg/dL), the involved chain fixed at the stored course's baseline; null before it is known"
    )

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True))
    def get_dflc(self, a):
        # The list annotates the involved chain (one query); a single assessment just recorded reads it here.
        if hasattr(a, "involved"):
            involved = a.involved
        else:
            involved = ResponseResult.objects.filter(patient_id=a.patient_id).values_list("baseline__involved", flat=True).first()
        value = a.dflc(involved)
        return None if value is None else f"{value:.3f}"

    class Meta:
        model = MyelomaAssessment
        fields = ["id", "patient", "on", *VALUE_FIELDS, *FLAG_FIELDS, "serum_isotype", "ratio", "dflc", "spurious"]


class AssessmentRecordSerializer(serializers.Serializer):
    patient = PatientRef()
    on = serializers.DateField()
    values = serializers.DictField(help_text=f"Any of {', '.join(VALUE_FIELDS + FLAG_FIELDS)}, serum_isotype")
    units = serializers.DictField(
        child=serializers.CharField(), required=False, help_text='spep "g/dL"|"g/L", upep "mg/24h"|"g/24h", kappa and lambda_flc "mg/dL"|"mg/L"'
    )
    reason_for_change = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_values(self, values):
        unknown = set(values) - set(VALUE_FIELDS + FLAG_FIELDS + ["serum_isotype"])
        if unknown:
            raise serializers.ValidationError(f"Unknown values: {', '.join(sorted(unknown))}.")
        return values


class SpuriousSerializer(serializers.Serializer):
    parameter = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)


@extend_schema_view(
    create=extend_schema(
        request=AssessmentRecordSerializer, description=("Record (or correct, with reason_for_change) the assessment of one date; units converted.")
    )
)
class AssessmentViewSet(PatientScoped, ServiceCreate, viewsets.ReadOnlyModelViewSet):
    serializer_class = AssessmentSerializer
    queryset = MyelomaAssessment.objects.select_related("patient").annotate(involved=KeyTextTransform("involved", "patient__response__baseline"))
    ordering = ("patient__study_id", "on")
    create_serializer = AssessmentRecordSerializer
    create_service = staticmethod(services.assessment_record)

    @extend_schema(request=SpuriousSerializer, responses={200: AssessmentSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def spurious(self, request, pk=None):
        s = SpuriousSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        assessment = services.assessment_mark_spurious(assessment=self.get_object(), by=request.user, **s.validated_data)
        return Response(AssessmentSerializer(assessment).data)


class FollowUpSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")

    class Meta:
        model = FollowUp
        fields = ["patient", "death_on", "death_cause", "next_therapy_on", "next_therapy_regimen", "last_contact_on"]


class FollowUpWriteSerializer(serializers.Serializer):
    patient = PatientRef()
    death_on = serializers.DateField(required=False, allow_null=True)
    death_cause = serializers.CharField(required=False, allow_blank=True)
    next_therapy_on = serializers.DateField(required=False, allow_null=True)
    next_therapy_regimen = serializers.CharField(required=False, allow_blank=True)
    last_contact_on = serializers.DateField(required=False, allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


@extend_schema_view(create=extend_schema(request=FollowUpWriteSerializer))
class FollowUpViewSet(PatientScoped, ServiceCreate, viewsets.ReadOnlyModelViewSet):
    serializer_class = FollowUpSerializer
    queryset = FollowUp.objects.select_related("patient")
    ordering = ("patient__study_id",)
    create_serializer = FollowUpWriteSerializer
    create_service = staticmethod(services.followup_record)


class ResultRowSerializer(serializers.Serializer):
    """One assessment of a stored course (stored by column: ResponseResult.rows gives them by assessment)."""

    on = serializers.DateField()
    id = serializers.IntegerField(help_text="The myeloma assessment")
    category = serializers.CharField(help_text="Unconfirmed IMWG category")
    reason = serializers.CharField()
    change_pct = serializers.DictField(child=serializers.DecimalField(max_digits=9, decimal_places=2), help_text="% change from baseline")
    confirmed = serializers.CharField(allow_null=True, help_text="Confirmed by this assessment: with the previous one, or alone (PD by marrow or imaging)")
    confirmed_from = serializers.DateField(allow_null=True)
    after_next_therapy = serializers.BooleanField()


class ResponseSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    results = ResultRowSerializer(source="rows", many=True, read_only=True)

    class Meta:
        model = ResponseResult
        fields = ["patient", "driver", "baseline", "results", "best", "best_on", "best_reason", "best_change_pct", "first_response_on"]
        fields += ["progression_on", "confirmed", "flags", "rule_version", "inputs_at", "computed_at"]


class ResponseViewSet(PatientScoped, viewsets.ReadOnlyModelViewSet):
    """Stored IMWG courses (computed by Celery; never computed on read)."""

    serializer_class = ResponseSerializer
    queryset = ResponseResult.objects.select_related("patient")
    ordering = ("patient__study_id",)


class EndpointSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")

    class Meta:
        model = EndpointSnapshot
        fields = ["trial", "data", "rule_version", "inputs_at", "computed_at", "patients"]


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = RecomputeJob
        fields = ["id", "status", "total", "done", "requested_at", "finished_at", "message"]


class EndpointsView(APIView):
    @extend_schema(responses=EndpointSerializer)
    def get(self, request, code):
        """The trial's latest endpoints, with their definitions, rule version and input time."""
        trial = cohort_selectors.trial_get(code)
        snapshot = selectors.latest_snapshot(trial)
        if snapshot is None:
            return Response({"status": 404, "code": "not_found", "detail": "No endpoints computed yet.", "errors": {}}, status=404)
        return Response(EndpointSerializer(snapshot).data)


class CanRecompute(HasRole):
    """Reads as every API view; starting a recompute: data managers and investigators (services.can_recompute)."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return super().has_permission(request, view)
        return bool(request.user and request.user.is_authenticated and services.can_recompute(request.user))


class RecomputeView(APIView):
    permission_classes = [CanRecompute]

    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request, code):
        """Recompute every response and the endpoints of the trial (data managers and investigators); poll the job for progress."""
        job = services.trial_recompute_start(trial=cohort_selectors.trial_get(code), by=request.user)
        return Response(JobSerializer(job).data, status=202)

    @extend_schema(responses={200: JobSerializer, 404: ErrorSerializer})
    def get(self, request, code):
        """The trial's latest recompute job; 404 in the error format when none was ever started."""
        job = selectors.latest_job(cohort_selectors.trial_get(code))
        if job is None:
            raise NotFound("No recompute has been started for this trial.")
        return Response(JobSerializer(job).data)
