"""REST endpoints for toxicity: CTCAE terms, adverse events, labs, DLT proposals and adjudication, DLTs, evaluations."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Perm
from cohorts.api import PatientRef, PatientScoped, ServiceCreate
from trialsite.api import signature_password_field
from trialsite.idempotency import idempotent_action

from . import ctcae, dlt, selectors, services
from .models import RULE_CHOICES, SAE_CRITERIA, AdverseEvent, ConMed, Dlt, DltEvaluation, DltProposal, LabResult

# ---------------------------------------------------------------- CTCAE terms

DEFAULT_CTCAE = "5.0"


class TermSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="MedDRA code: what an adverse event's `term` holds")
    meddra_code = serializers.CharField()
    name = serializers.CharField()
    soc = serializers.CharField(help_text="System organ class")
    version = serializers.CharField(help_text="CTCAE version")
    kind = serializers.CharField(help_text="What the DLT rules read: neutropenia, rash, ...")
    other_specify = serializers.BooleanField(help_text='"<SOC> - Other, specify": an event needs its verbatim term')
    grades = serializers.DictField(child=serializers.CharField(), help_text="Grade -> description (the term's own, else CTCAE's generic definition)")
    generic_texts = serializers.BooleanField(help_text="The reference gives no texts of this term's own: the descriptions are the generic ones")


def term_data(t: ctcae.Term, version: str) -> dict:
    return {
        "code": t.code,
        "meddra_code": t.code,
        "name": t.name,
        "soc": t.soc,
        "version": version,
        "kind": t.kind.value,
        "other_specify": t.other_specify,
        "grades": {str(g): text for g, text in t.grade_texts().items()},
        "generic_texts": t.generic_texts,
    }


class CtcaeTermsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words that must all appear in the term, its organ class or MedDRA code (best matches first)"),
            OpenApiParameter("version", str, description="CTCAE version (default 5.0)"),
            OpenApiParameter("limit", int, description="At most this many terms (default 50 with q, all without)"),
        ],
        responses=TermSerializer(many=True),
    )
    def get(self, request):
        q = request.query_params.get("q", "")
        terms = selectors.terminology(request.query_params.get("version") or DEFAULT_CTCAE)
        try:
            limit = max(1, min(int(request.query_params.get("limit") or (50 if q else len(terms) or 1)), 1000))
        except ValueError:
            raise serializers.ValidationError({"limit": ["A whole number."]}) from None
        found = terms.search(q, limit=limit)
        return Response(TermSerializer([term_data(t, terms.version) for t in found], many=True).data)


# ---------------------------------------------------------------- adverse events


class AdverseEventSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    term = serializers.CharField(help_text="MedDRA code of the CTCAE term")
    term_name = serializers.CharField(help_text='The term (with the verbatim term of an "Other, specify")')
    meddra_code = serializers.CharField(source="term", help_text="MedDRA code (the same as term)")
    soc = serializers.CharField(help_text="System organ class")
    event = serializers.IntegerField(source="event_id_root", help_text="Id of the event's first episode")

    class Meta:
        model = AdverseEvent
        fields = ["id", "patient", "event", "term", "term_name", "meddra_code", "soc", "ctcae_version", *services.AE_FIELDS[1:], "in_error"]


class AdverseEventWriteSerializer(serializers.Serializer):
    """Shape only: the service checks the term, grade, dates and attribution against CTCAE and the protocol."""

    term = serializers.CharField(help_text="MedDRA code of a term of the trial's CTCAE version (see ctcae-terms/)")
    verbatim = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text='Required for a "<SOC> - Other, specify" term')
    grade = serializers.IntegerField()
    onset = serializers.DateField()
    resolved = serializers.DateField(required=False, allow_null=True)
    serious = serializers.BooleanField(required=False)
    sae_criteria = serializers.ListField(child=serializers.ChoiceField(choices=list(SAE_CRITERIA)), required=False)
    attribution = serializers.DictField(child=serializers.CharField(), help_text="{drug code: unrelated | unlikely | possible | probable | definite}")
    progression = serializers.BooleanField(required=False)
    action = serializers.ChoiceField(choices=AdverseEvent.Action.choices, required=False)
    outcome = serializers.ChoiceField(choices=AdverseEvent.Outcome.choices, required=False)
    supportive = serializers.ListField(child=serializers.ChoiceField(choices=[s.value for s in dlt.Supportive]), required=False)
    with_pain = serializers.BooleanField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True)


class AdverseEventCreateSerializer(AdverseEventWriteSerializer):
    patient = PatientRef()
    continues = serializers.IntegerField(required=False, allow_null=True, help_text="Id of the previous episode when the grade changed")

    def validate(self, data):
        if data.get("continues") is not None:
            previous = AdverseEvent.objects.filter(pk=data["continues"], patient=data["patient"]).first()
            if previous is None:
                raise serializers.ValidationError({"continues": "No such adverse event for this patient."})
            data["continues"] = previous
        return data


class AdverseEventUpdateSerializer(AdverseEventWriteSerializer):
    reason = serializers.CharField(help_text="Reason for change", allow_blank=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "reason":
                field.required = False


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)


@extend_schema_view(create=extend_schema(request=AdverseEventCreateSerializer))
class AdverseEventViewSet(PatientScoped, ServiceCreate, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = AdverseEventSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = AdverseEvent.objects.select_related("patient")
    ordering = ("patient__study_id", "onset", "pk")
    create_serializer = AdverseEventCreateSerializer
    create_service = staticmethod(services.ae_record)

    @extend_schema(request=AdverseEventUpdateSerializer, responses={200: AdverseEventSerializer})
    def partial_update(self, request, *args, **kwargs):
        ae = self.get_object()
        s = AdverseEventUpdateSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        changes = dict(s.validated_data)
        reason = changes.pop("reason", "")
        ae = services.ae_update(ae=ae, by=request.user, reason=reason, **changes)
        return Response(AdverseEventSerializer(ae).data)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=ReasonSerializer, responses={200: AdverseEventSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def retract(self, request, pk=None):
        """Mark as entered in error (kept, ignored by the DLT rules)."""
        s = ReasonSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        ae = services.ae_retract(ae=self.get_object(), by=request.user, reason=s.validated_data["reason"])
        return Response(AdverseEventSerializer(ae).data)


# ---------------------------------------------------------------- concomitant medications


class ConMedSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    adverse_events = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="Ids of the adverse event episodes it treats")

    class Meta:
        model = ConMed
        fields = ["id", "patient", *services.CONMED_FIELDS, "in_error"]


class ConMedWriteSerializer(serializers.Serializer):
    """Shape only: the service checks the dates, the stop or ongoing, and the linked events."""

    drug = serializers.CharField(max_length=200)
    indication = serializers.CharField(max_length=200)
    dose = serializers.DecimalField(max_digits=10, decimal_places=3, required=False, allow_null=True)
    dose_unit = serializers.CharField(max_length=20, required=False, allow_blank=True)
    frequency = serializers.CharField(max_length=40, required=False, allow_blank=True)
    route = serializers.ChoiceField(choices=ConMed.Route.choices)
    start = serializers.DateField()
    stop = serializers.DateField(required=False, allow_null=True)
    ongoing = serializers.BooleanField(required=False)
    category = serializers.ChoiceField(
        choices=ConMed.Category.choices,
        required=False,
        help_text="Supportive-care category the DLT rules read: gcsf (H2), max_antiemetic / max_antidiarrheal (N2), steroids (N6)",
    )
    adverse_events = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="Ids of the patient's adverse events it treats")
    notes = serializers.CharField(required=False, allow_blank=True)


class ConMedCreateSerializer(ConMedWriteSerializer):
    patient = PatientRef()


class ConMedUpdateSerializer(ConMedWriteSerializer):
    reason = serializers.CharField(help_text="Reason for change", allow_blank=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "reason":
                field.required = False


@extend_schema_view(create=extend_schema(request=ConMedCreateSerializer))
class ConMedViewSet(PatientScoped, ServiceCreate, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Concomitant medications: POST, PATCH with `reason`, `/retract/`; `?patient=<study id>`."""

    serializer_class = ConMedSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = ConMed.objects.select_related("patient").prefetch_related("adverse_events")
    ordering = ("patient__study_id", "start", "pk")
    create_serializer = ConMedCreateSerializer
    create_service = staticmethod(services.conmed_record)

    @extend_schema(request=ConMedUpdateSerializer, responses={200: ConMedSerializer})
    def partial_update(self, request, *args, **kwargs):
        conmed = self.get_object()
        s = ConMedUpdateSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        changes = dict(s.validated_data)
        reason = changes.pop("reason", "")
        conmed = services.conmed_update(conmed=conmed, by=request.user, reason=reason, **changes)
        return Response(ConMedSerializer(ConMed.objects.prefetch_related("adverse_events").get(pk=conmed.pk)).data)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=ReasonSerializer, responses={200: ConMedSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def retract(self, request, pk=None):
        """Mark as entered in error (kept, ignored by the DLT rules)."""
        s = ReasonSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        conmed = services.conmed_retract(conmed=self.get_object(), by=request.user, reason=s.validated_data["reason"])
        return Response(ConMedSerializer(conmed).data)


# ---------------------------------------------------------------- labs


class LabResultSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    grades = serializers.SerializerMethodField()

    class Meta:
        model = LabResult
        fields = ["id", "patient", "on", "anc", "platelets", "hemoglobin", "wbc", "temperature", "grades"]

    def get_grades(self, lab) -> dict[str, int]:
        from .selectors import lab_grades

        return lab_grades(lab)


class LabRecordSerializer(serializers.Serializer):
    patient = PatientRef()
    on = serializers.DateField()
    anc = serializers.DecimalField(max_digits=12, decimal_places=3, required=False, allow_null=True)
    platelets = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True)
    hemoglobin = serializers.DecimalField(max_digits=6, decimal_places=2, required=False, allow_null=True)
    wbc = serializers.DecimalField(max_digits=12, decimal_places=3, required=False, allow_null=True)
    temperature = serializers.DecimalField(max_digits=4, decimal_places=1, required=False, allow_null=True)
    units = serializers.DictField(
        child=serializers.CharField(), required=False, help_text='Per value: "10^9/L" (default), "10^3/uL" or "/uL" for counts; "g/dL" or "g/L" for hemoglobin'
    )
    reason_for_change = serializers.CharField(required=False, allow_blank=True)


@extend_schema_view(
    create=extend_schema(
        request=LabRecordSerializer, description=("Record (or, with reason_for_change, correct) the panel of one day; counts per microlitre are converted.")
    )
)
class LabResultViewSet(PatientScoped, ServiceCreate, viewsets.ReadOnlyModelViewSet):
    serializer_class = LabResultSerializer
    queryset = LabResult.objects.select_related("patient")
    ordering = ("patient__study_id", "on")
    create_serializer = LabRecordSerializer
    create_service = staticmethod(services.lab_record)


# ---------------------------------------------------------------- DLT proposals, DLTs, evaluations


class DltProposalSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    adjudicated_by = serializers.CharField(source="adjudicated_by.username", allow_null=True, default=None)

    class Meta:
        model = DltProposal
        fields = [
            "id",
            "patient",
            "rule",
            "onset",
            "sentence",
            "evidence",
            "event_ids",
            "attribution_recorded",
            "status",
            "review_note",
            "proposed_at",
            "adjudicated_by",
            "adjudicated_at",
            "adjudication_reason",
        ]


class AdjudicationSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    password = signature_password_field()


class DltSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")
    confirmed_by = serializers.CharField(source="confirmed_by.username")
    needs_review = serializers.SerializerMethodField()

    class Meta:
        model = Dlt
        fields = [
            "id",
            "patient",
            "proposal",
            "rule",
            "onset",
            "sentence",
            "evidence",
            "reason",
            "confirmed_by",
            "confirmed_at",
            "withdrawn_at",
            "withdrawn_reason",
            "needs_review",
        ]

    def get_needs_review(self, row) -> bool:
        return row.proposal is not None and row.proposal.status == DltProposal.Status.REOPENED


class MissedDltSerializer(serializers.Serializer):
    patient = PatientRef()
    rule = serializers.ChoiceField(choices=RULE_CHOICES)
    onset = serializers.DateField()
    description = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    confirm_unsupported = serializers.BooleanField(
        required=False, default=False, help_text="Record it even though the data the rules read do not meet the criterion"
    )
    password = signature_password_field()


class SignedReasonSerializer(ReasonSerializer):
    password = signature_password_field()


class _Adjudicating:
    """Reads for every role; writes (confirm, reject, record, withdraw) for investigators."""

    write_perm = Perm.ADJUDICATE


class DltProposalViewSet(_Adjudicating, PatientScoped, viewsets.ReadOnlyModelViewSet):
    serializer_class = DltProposalSerializer
    queryset = DltProposal.objects.select_related("patient", "adjudicated_by")
    ordering = ("proposed_at", "pk")

    def narrow(self, queryset):
        status = self.request.query_params.get("status")
        return queryset.filter(status=status) if status else queryset

    def _decide(self, request, pk, decide):
        proposal = self.get_object()
        s = AdjudicationSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        decide(proposal=proposal, by=request.user, password=s.validated_data["password"], reason=s.validated_data["reason"])
        proposal.refresh_from_db()
        return Response(DltProposalSerializer(proposal).data)

    @extend_schema(request=AdjudicationSerializer, responses={200: DltProposalSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def confirm(self, request, pk=None):
        """Confirm as a DLT, signed (password re-entered; the reason is required when no adverse event records the attribution)."""
        return self._decide(request, pk, services.dlt_confirm)

    @extend_schema(request=AdjudicationSerializer, responses={200: DltProposalSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def reject(self, request, pk=None):
        """Reject with the reason, signed (password re-entered); a DLT confirmed on it before is withdrawn."""
        return self._decide(request, pk, services.dlt_reject)


@extend_schema_view(create=extend_schema(request=MissedDltSerializer, description="Record a DLT the rules missed, with the reason; signed (password)."))
class DltViewSet(_Adjudicating, PatientScoped, ServiceCreate, viewsets.ReadOnlyModelViewSet):
    serializer_class = DltSerializer
    queryset = Dlt.objects.select_related("patient", "confirmed_by", "proposal")
    ordering = ("onset", "pk")
    create_serializer = MissedDltSerializer
    create_service = staticmethod(services.dlt_record_missed)

    @extend_schema(request=SignedReasonSerializer, responses={200: DltSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def withdraw(self, request, pk=None):
        """Withdraw a DLT recorded by an investigator, with the reason (signed: password re-entered)."""
        s = SignedReasonSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        row = services.dlt_withdraw(dlt_row=self.get_object(), by=request.user, password=s.validated_data["password"], reason=s.validated_data["reason"])
        return Response(DltSerializer(row).data)


class DltEvaluationSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id")

    class Meta:
        model = DltEvaluation
        fields = ["patient", "status", "reason", "until", "evaluated_on", "evaluated_at", "rule_version"]


class DltEvaluationViewSet(PatientScoped, viewsets.ReadOnlyModelViewSet):
    serializer_class = DltEvaluationSerializer
    queryset = DltEvaluation.objects.select_related("patient")
    ordering = ("patient__study_id",)
