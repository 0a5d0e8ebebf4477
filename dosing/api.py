"""REST endpoints for treatment: cycles, plans, modifications, administrations, off treatment, worklist."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from cohorts.api import PatientRef, PatientScoped, ServiceCreate
from cohorts.models import DoseLevel, Drug

from . import selectors, services
from .models import Administration, Cycle, DoseModification, OffTreatment, PlannedDose


class CycleSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    level = serializers.IntegerField(source="level.label")

    class Meta:
        model = Cycle
        fields = ["id", "patient", "number", "planned_day1", "day1", "delay_days", "delay_reason", "level", "height_cm", "weight_kg", "bsa_m2"]


class CycleStartSerializer(serializers.Serializer):
    patient = PatientRef()
    day1 = serializers.DateField()
    weight_kg = serializers.DecimalField(max_digits=7, decimal_places=2)
    delay_reason = serializers.CharField(required=False, allow_blank=True, default="")
    number = serializers.IntegerField(required=False, min_value=1, help_text="Optional check: the cycle you mean to start")


class PlannedDoseSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="cycle.patient.study_id")
    cycle = serializers.IntegerField(source="cycle.number")
    drug = serializers.CharField(source="drug.code")

    class Meta:
        model = PlannedDose
        fields = ["id", "patient", "cycle", "drug", "day", "planned_on", "dose_mg", "basis"]


class AdministrationSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="cycle.patient.study_id")
    cycle = serializers.IntegerField(source="cycle.number")
    drug = serializers.CharField(source="drug.code")
    planned_dose_mg = serializers.DecimalField(source="planned.dose_mg", max_digits=8, decimal_places=2, allow_null=True, read_only=True)

    class Meta:
        model = Administration
        fields = ["id", "patient", "cycle", "drug", "day", "given_on", "status", "dose_mg", "planned_dose_mg", "route", "reason", "deviation"]


class AdministrationRecordSerializer(serializers.Serializer):
    patient = PatientRef()
    cycle = serializers.IntegerField(min_value=1)
    drug = serializers.CharField()
    day = serializers.IntegerField(min_value=1)
    status = serializers.ChoiceField(choices=Administration.Status.choices)
    dose_mg = serializers.DecimalField(max_digits=8, decimal_places=2, required=False, allow_null=True)
    route = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    deviation = serializers.BooleanField(required=False, default=False)
    reason_for_change = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, data):
        patient = data.pop("patient")
        data["cycle"] = Cycle.objects.filter(patient=patient, number=data["cycle"]).first()
        if data["cycle"] is None:
            raise serializers.ValidationError({"cycle": "No such cycle for this patient."})
        data["drug"] = Drug.objects.filter(trial=patient.trial, code=data["drug"]).first()
        if data["drug"] is None:
            raise serializers.ValidationError({"drug": "No such drug in this trial."})
        return data


class ModificationSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    cycle = serializers.IntegerField(source="cycle.number")
    drug = serializers.CharField(source="drug.code", allow_null=True)
    to_level = serializers.IntegerField(source="to_level.label", allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username")

    class Meta:
        model = DoseModification
        fields = ["id", "patient", "cycle", "kind", "drug", "effective_on", "to_level", "dose_mg", "reason", "in_cycle_1", "adverse_event", "decided_by"]


class ModificationCreateSerializer(serializers.Serializer):
    patient = PatientRef()
    kind = serializers.ChoiceField(choices=DoseModification.Kind.choices)
    drug = serializers.CharField(required=False, allow_null=True, default=None)
    to_level = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="Level label, e.g. -1")
    dose_mg = serializers.DecimalField(max_digits=8, decimal_places=2, required=False, allow_null=True, default=None)
    effective_on = serializers.DateField()
    decided_by = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True))
    reason = serializers.CharField()
    adverse_event = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="Id of the adverse event that required it")

    def validate(self, data):
        trial = data["patient"].trial
        if data["drug"] is not None:
            data["drug"] = Drug.objects.filter(trial=trial, code=data["drug"]).first()
            if data["drug"] is None:
                raise serializers.ValidationError({"drug": "No such drug in this trial."})
        if data["adverse_event"] is not None:
            data["adverse_event"] = data["patient"].adverse_events.filter(pk=data["adverse_event"], in_error=False).first()
            if data["adverse_event"] is None:
                raise serializers.ValidationError({"adverse_event": "No such adverse event for this patient."})
        if data["to_level"] is not None:
            data["to_level"] = DoseLevel.objects.filter(trial=trial, label=data["to_level"]).first()
            if data["to_level"] is None:
                raise serializers.ValidationError({"to_level": "No such level in this trial."})
        return data


class OffTreatmentSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")

    class Meta:
        model = OffTreatment
        fields = ["patient", "reason", "decided_on", "last_dose_on", "follow_up_until"]


class OffTreatmentCreateSerializer(serializers.Serializer):
    patient = PatientRef()
    reason_code = serializers.CharField()
    decided_on = serializers.DateField()
    last_dose_on = serializers.DateField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="")


@extend_schema_view(create=extend_schema(request=CycleStartSerializer))
class CycleViewSet(PatientScoped, ServiceCreate, viewsets.ReadOnlyModelViewSet):
    serializer_class = CycleSerializer
    queryset = Cycle.objects.select_related("patient", "level")
    ordering = ("patient__study_id", "number")
    create_serializer = CycleStartSerializer
    create_service = staticmethod(services.cycle_start)


class PlannedDoseViewSet(PatientScoped, viewsets.ReadOnlyModelViewSet):
    serializer_class = PlannedDoseSerializer
    patient_path = "cycle__patient"
    queryset = PlannedDose.objects.select_related("cycle__patient", "drug")
    ordering = ("cycle__patient__study_id", "cycle__number", "day", "drug__order")


@extend_schema_view(create=extend_schema(request=AdministrationRecordSerializer))
class AdministrationViewSet(PatientScoped, ServiceCreate, viewsets.ReadOnlyModelViewSet):
    serializer_class = AdministrationSerializer
    patient_path = "cycle__patient"
    queryset = Administration.objects.select_related("cycle__patient", "drug", "planned")
    ordering = ("cycle__patient__study_id", "cycle__number", "day", "drug__order")
    create_serializer = AdministrationRecordSerializer
    create_service = staticmethod(services.administration_record)


@extend_schema_view(create=extend_schema(request=ModificationCreateSerializer))
class ModificationViewSet(PatientScoped, ServiceCreate, viewsets.ReadOnlyModelViewSet):
    serializer_class = ModificationSerializer
    queryset = DoseModification.objects.select_related("patient", "cycle", "drug", "to_level", "decided_by")
    ordering = ("patient__study_id", "effective_on", "id")
    create_serializer = ModificationCreateSerializer
    create_service = staticmethod(services.dose_modify)


@extend_schema_view(create=extend_schema(request=OffTreatmentCreateSerializer))
class OffTreatmentViewSet(PatientScoped, ServiceCreate, viewsets.ReadOnlyModelViewSet):
    serializer_class = OffTreatmentSerializer
    queryset = OffTreatment.objects.select_related("patient")
    ordering = ("patient__study_id",)
    create_serializer = OffTreatmentCreateSerializer
    create_service = staticmethod(services.patient_off_treatment)


class WorkItemSerializer(serializers.Serializer):
    patient = serializers.CharField(source="patient.study_id")
    site = serializers.CharField(source="patient.site.number")
    what = serializers.CharField()
    expected_on = serializers.DateField()
    window_days = serializers.IntegerField()
    bucket = serializers.CharField()
    visit = serializers.IntegerField(source="visit.pk", allow_null=True)


class WorklistView(APIView):
    @extend_schema(responses={200: WorkItemSerializer(many=True)})
    def get(self, request):
        items = selectors.worklist(request.user, today=timezone.localdate(), site_number=request.query_params.get("site"))
        return Response(WorkItemSerializer([i for bucket in ("overdue", "today", "week") for i in items[bucket]], many=True).data)
