"""REST endpoints under /api/v1/: thin serializers (shape) and viewsets calling services."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Site
from trialsite.idempotency import idempotent, idempotent_action

from . import selectors, services
from .filters import PatientFilter
from .models import DoseLevel, DrugSchedule, Enrolment, LevelDose, Patient, Trial
from .status import PatientStatus


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "number", "name", "active"]


class LevelDoseSerializer(serializers.ModelSerializer):
    drug = serializers.CharField(source="drug.code")

    class Meta:
        model = LevelDose
        fields = ["drug", "amount", "unit"]


class DoseLevelSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")
    doses = LevelDoseSerializer(many=True)

    class Meta:
        model = DoseLevel
        fields = ["id", "trial", "label", "order", "doses"]


class ScheduleSerializer(serializers.ModelSerializer):
    drug = serializers.CharField(source="drug.code")

    class Meta:
        model = DrugSchedule
        fields = ["drug", "route", "days", "first_cycle", "last_cycle"]


class TrialSerializer(serializers.ModelSerializer):
    starting_level = serializers.IntegerField(source="starting_level.label")
    levels = DoseLevelSerializer(many=True)
    schedules = serializers.SerializerMethodField()

    class Meta:
        model = Trial
        fields = [
            "code",
            "nct_id",
            "title",
            "phase",
            "design",
            "protocol_version",
            "cycle_length_days",
            "dlt_window_days",
            "cohort_size",
            "cohort_max_size",
            "cap_escalation",
            "cap_expansion",
            "cap_total",
            "visit_window_days",
            "starting_level",
            "eligibility_criteria",
            "levels",
            "schedules",
        ]

    def get_schedules(self, trial) -> list[dict]:
        schedules = [s for drug in trial.drugs.all() for s in drug.schedules.all()]
        return ScheduleSerializer(schedules, many=True).data


class EnrolmentSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    level = serializers.IntegerField(source="level.label")
    cohort = serializers.IntegerField(source="cohort.number")
    phase = serializers.CharField(source="cohort.phase")

    class Meta:
        model = Enrolment
        fields = ["patient", "level", "cohort", "phase", "slot", "enrolled_on"]


class PatientSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")
    site = serializers.CharField(source="site.number")
    level = serializers.SerializerMethodField()
    enrolled_on = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "study_id",
            "trial",
            "site",
            "initials",
            "date_of_birth",
            "sex",
            "height_cm",
            "weight_kg",
            "consent_date",
            "eligibility",
            "baseline_anc",
            "baseline_platelets",
            "baseline_marrow_pc_pct",
            "status",
            "status_reason",
            "status_date",
            "level",
            "enrolled_on",
            "registered_at",
        ]

    def _enrolment(self, patient):
        try:
            return patient.enrolment
        except Enrolment.DoesNotExist:
            return None

    def get_level(self, patient) -> int | None:
        enrolment = self._enrolment(patient)
        return enrolment.level.label if enrolment else None

    def get_enrolled_on(self, patient) -> str | None:
        enrolment = self._enrolment(patient)
        return enrolment.enrolled_on.isoformat() if enrolment else None


class PatientFieldsSerializer(serializers.Serializer):
    initials = serializers.CharField(max_length=4)
    date_of_birth = serializers.DateField()
    sex = serializers.ChoiceField(choices=Patient.Sex.choices)
    height_cm = serializers.DecimalField(max_digits=7, decimal_places=2)
    weight_kg = serializers.DecimalField(max_digits=7, decimal_places=2)
    consent_date = serializers.DateField(required=False, allow_null=True)
    eligibility = serializers.DictField(child=serializers.BooleanField(), required=False)
    baseline_anc = serializers.DecimalField(max_digits=8, decimal_places=2)
    baseline_platelets = serializers.DecimalField(max_digits=8, decimal_places=1)
    baseline_marrow_pc_pct = serializers.DecimalField(max_digits=5, decimal_places=1)


class PatientCreateSerializer(PatientFieldsSerializer):
    # Optional at registration: left out, they are None (no consent yet, no criterion assessed), as the form does;
    # without a default the service was called without them (a 500). Not on PatientFieldsSerializer: a PATCH
    # that leaves them out must keep them.
    consent_date = serializers.DateField(required=False, allow_null=True, default=None)
    eligibility = serializers.DictField(child=serializers.BooleanField(), required=False, allow_null=True, default=None)
    trial = serializers.SlugRelatedField(slug_field="code", queryset=Trial.objects.all())
    site = serializers.SlugRelatedField(slug_field="number", queryset=Site.objects.all())
    study_id = serializers.CharField(required=False, allow_blank=True, help_text="Leave out: the next id of the site is given.")


class PatientUpdateSerializer(PatientFieldsSerializer):
    reason_for_change = serializers.CharField(help_text="Required: kept in the audit trail.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, fld in self.fields.items():
            if name != "reason_for_change":
                fld.required = False


class EnrolSerializer(serializers.Serializer):
    enrolled_on = serializers.DateField(required=False, help_text="Defaults to today.")


class StatusChangeSerializer(serializers.Serializer):
    to_status = serializers.ChoiceField(choices=[s.value for s in PatientStatus])
    reason_code = serializers.CharField(required=False, allow_blank=True)
    on_date = serializers.DateField()
    note = serializers.CharField(required=False, allow_blank=True)


class HistoryChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.CharField(allow_null=True)
    new = serializers.CharField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    when = serializers.DateTimeField()
    who = serializers.CharField()
    record = serializers.CharField()
    action = serializers.CharField()
    reason = serializers.CharField()
    changes = HistoryChangeSerializer(many=True)


class PatientRef(serializers.CharField):
    """A patient by study id, visible to the requesting user (else 404)."""

    def to_internal_value(self, data):
        return selectors.patient_get_for_user(self.context["request"].user, super().to_internal_value(data))


class ServiceCreate(mixins.CreateModelMixin):
    """POST writes through a service: `create_serializer` validates the request, `create_service(by=user, **values)`
    writes (atomic, validated, audited), and the answer is the object in `serializer_class`, 201. The request
    serializer is declared to the schema with extend_schema_view(create=extend_schema(request=...))."""

    create_serializer: type[serializers.Serializer]
    create_service: staticmethod

    def create(self, request, *args, **kwargs):
        """With an `Idempotency-Key` header, a repeated request gets the first answer (trialsite.idempotency)."""

        def write():
            s = self.create_serializer(data=request.data, context={"request": request})
            s.is_valid(raise_exception=True)
            return Response(self.get_serializer(self.create_service(by=request.user, **s.validated_data)).data, status=201)

        return idempotent(request, write)


class PatientScoped:
    """A viewset over the records of patients: only the requesting user's patients (a coordinator's
    site), narrowed to one with `?patient=<study id>`. Subclasses declare `queryset` (with its
    select_related), `ordering`, and `patient_path` when the patient is not the `patient` field."""

    patient_path = "patient"
    ordering: tuple[str, ...] = ()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.queryset.none()
        queryset = selectors.records_for_user(self.queryset, self.request.user, self.patient_path)
        study_id = self.request.query_params.get("patient")
        if study_id:
            queryset = queryset.filter(**{f"{self.patient_path}__study_id": study_id})
        return self.narrow(queryset).order_by(*self.ordering)

    def narrow(self, queryset):
        """Further filters of one viewset (none by default)."""
        return queryset


class TrialViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TrialSerializer
    lookup_field = "code"
    cursor_ordering = "code"  # unique: the API pages in the order of the page's own list

    def get_queryset(self):
        return Trial.objects.select_related("starting_level").prefetch_related("levels__doses__drug", "drugs__schedules").order_by("code")


class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = SiteSerializer
    cursor_ordering = "number"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Site.objects.none()
        return selectors.sites_for_user(self.request.user)


class DoseLevelViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = DoseLevelSerializer
    filterset_fields = {"trial__code": ["exact"]}

    def get_queryset(self):
        return DoseLevel.objects.select_related("trial").prefetch_related("doses__drug").order_by("trial__code", "order")


class EnrolmentViewSet(PatientScoped, viewsets.ReadOnlyModelViewSet):
    serializer_class = EnrolmentSerializer
    queryset = Enrolment.objects.select_related("patient", "level", "cohort")
    ordering = ("cohort__trial_id", "cohort__number", "slot")


class PatientViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = PatientSerializer
    lookup_field = "study_id"
    filterset_class = PatientFilter
    cursor_ordering = "study_id"  # unique and indexed: pages in the patient list's order
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Patient.objects.none()
        return selectors.patients_for_user(self.request.user)

    def get_object(self):
        return selectors.patient_get_for_user(self.request.user, self.kwargs["study_id"])

    @extend_schema(request=PatientCreateSerializer, responses={201: PatientSerializer})
    def create(self, request, *args, **kwargs):
        def write():
            serializer = PatientCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
            patient = services.patient_register(by=request.user, **data)
            return Response(PatientSerializer(patient).data, status=201)

        return idempotent(request, write)

    @extend_schema(request=PatientUpdateSerializer, responses={200: PatientSerializer})
    def partial_update(self, request, *args, **kwargs):
        patient = self.get_object()
        serializer = PatientUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        reason = data.pop("reason_for_change")
        patient = services.patient_update(patient=patient, by=request.user, reason=reason, **data)
        return Response(PatientSerializer(selectors.patient_get_for_user(request.user, patient.study_id)).data)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=EnrolSerializer, responses={201: EnrolmentSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def enrol(self, request, study_id=None):
        patient = self.get_object()
        serializer = EnrolSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enrolled_on = serializer.validated_data.get("enrolled_on") or timezone.localdate()
        enrolment = services.patient_enroll(patient=patient, by=request.user, enrolled_on=enrolled_on)
        return Response(EnrolmentSerializer(enrolment).data, status=201)

    @extend_schema(request=StatusChangeSerializer, responses={200: PatientSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def status(self, request, study_id=None):
        patient = self.get_object()
        serializer = StatusChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = services.patient_change_status(patient=patient, by=request.user, **serializer.validated_data)
        return Response(PatientSerializer(selectors.patient_get_for_user(request.user, patient.study_id)).data)

    @extend_schema(responses={200: HistoryEntrySerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, study_id=None):
        """The patient's audit trail, newest first: one list (a patient's history is short), neither paged nor filtered."""
        patient = self.get_object()
        return Response(HistoryEntrySerializer(selectors.patient_history(patient), many=True).data)
