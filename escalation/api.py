"""REST endpoints for escalation: the engine's current state, the decisions, signing and rejecting."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Perm
from cohorts.selectors import site_mask, trial_get
from trialsite.api import ErrorSerializer, signature_password_field
from trialsite.idempotency import idempotent_action

from . import selectors, services
from .designs import DesignError
from .models import EscalationDecision


class DecisionSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")
    level = serializers.CharField(source="level.label", allow_null=True, default=None)
    mtd = serializers.CharField(source="mtd.label", allow_null=True, default=None)
    signed_by = serializers.CharField(source="signed_by.username", allow_null=True, default=None)

    class Meta:
        model = EscalationDecision
        fields = ["id", "trial", "design", "action", "level", "mtd", "rule", "reason", "slots", "tally", "dlts", "status", "proposed_at"]
        fields += ["signed_by", "signed_at", "signature_meaning", "rejection_reason", "needs_review", "review_note"]

    def to_representation(self, instance):
        """As the reader may see it: a coordinator reads other sites' patients as counts (escalation.selectors)."""
        request = self.context.get("request")
        if request is not None:
            masks = self.context.setdefault("site_masks", {})  # one query per trial and request
            if (mask := masks.get(instance.trial_id)) is None:
                mask = masks[instance.trial_id] = site_mask(request.user, instance.trial_id)
            instance = selectors.decision_for_mask(instance, mask)
        return super().to_representation(instance)


class SignSerializer(serializers.Serializer):
    password = signature_password_field()


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)
    password = signature_password_field("The investigator's own password")


class PatientStateSerializer(serializers.Serializer):
    study_id = serializers.CharField()
    level = serializers.CharField()
    outcome = serializers.CharField()
    why = serializers.CharField()
    until = serializers.DateField(allow_null=True)
    window_end = serializers.DateField(allow_null=True)
    days_left = serializers.IntegerField(allow_null=True)
    dlts = serializers.SerializerMethodField()

    def get_dlts(self, row) -> list[str]:
        return [f"{d.rule} {d.onset.isoformat()}" for d in row.dlts]


class SiteCountSerializer(serializers.Serializer):
    level = serializers.CharField()
    site = serializers.CharField()
    patients = serializers.IntegerField()
    dlts = serializers.IntegerField()
    outcomes = serializers.DictField(child=serializers.IntegerField())


class LookAheadStepSerializer(serializers.Serializer):
    move = serializers.CharField(help_text="escalate, stay, de-escalate, eliminate, expand, wait, suspend or stop")
    level = serializers.CharField(allow_null=True, help_text="Where the next patients go (null when the design stops)")
    rule = serializers.CharField()
    slots = serializers.IntegerField()


class LookAheadCohortSerializer(serializers.Serializer):
    level = serializers.CharField()
    size = serializers.IntegerField()
    dlts = serializers.IntegerField(help_text="The DLTs of this branch among the cohort's patients")
    then = LookAheadStepSerializer(help_text="The step these DLTs lead to")


class LookAheadPathSerializer(serializers.Serializer):
    now = LookAheadStepSerializer()
    cohorts = LookAheadCohortSerializer(many=True)


class StateSerializer(serializers.Serializer):
    design = serializers.CharField(help_text="The trial's dose-finding design: 3+3, boin, tite-boin or i3+3")
    action = serializers.CharField()
    level = serializers.CharField(allow_null=True)
    mtd = serializers.CharField(allow_null=True)
    rule = serializers.CharField()
    reason = serializers.CharField()
    slots = serializers.IntegerField()
    patients = PatientStateSerializer(many=True)
    other_sites = SiteCountSerializer(many=True, help_text="Other sites' patients, counted without identifiers (a coordinator's view)")
    look_ahead = LookAheadPathSerializer(many=True, help_text="The dose paths of the next two cohorts, as the escalation page shows them")


class EscalationStateView(APIView):
    @extend_schema(responses=StateSerializer)
    def get(self, request, code):
        """What the design's engine answers now, with each escalation patient's outcome and window, and the look-ahead."""
        state = selectors.state_for_user(selectors.escalation_state(trial_get(code)), request.user)
        d = state.decision
        body = {
            "design": state.design.name,
            "look_ahead": selectors.look_ahead_json(state),
            "action": d.action.value,
            "level": d.level,
            "mtd": d.mtd,
            "rule": d.rule,
            "reason": d.reason,
            "slots": d.slots,
        }
        body |= {"patients": state.patients, "other_sites": state.others}
        return Response(StateSerializer(body).data)


class DecisionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = DecisionSerializer
    write_perm = Perm.SIGN
    filterset_fields = {"trial__code": ["exact"], "status": ["exact"]}

    def get_queryset(self):
        return EscalationDecision.objects.select_related("trial", "level", "mtd", "signed_by").order_by("-proposed_at", "-id")

    @extend_schema(request=SignSerializer, responses={200: DecisionSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def sign(self, request, pk=None):
        """Sign the current proposal (password re-entered); the trial moves as proposed."""
        s = SignSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        decision = services.decision_sign(decision=get_object_or_404(self.get_queryset(), pk=pk), by=request.user, password=s.validated_data["password"])
        return Response(self.get_serializer(decision).data)

    @extend_schema(request=RejectSerializer, responses={200: DecisionSerializer})
    @action(detail=True, methods=["post"])
    @idempotent_action
    def reject(self, request, pk=None):
        s = RejectSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        decision = services.decision_reject(decision=get_object_or_404(self.get_queryset(), pk=pk), by=request.user, **s.validated_data)
        return Response(self.get_serializer(decision).data)


# ---------------------------------------------------------------- the design and its operating characteristics (issue 18)


class DecisionRowSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Patients treated at the current level")
    escalate = serializers.CharField(help_text='The DLT counts that escalate, e.g. "0-1" ("-": none)')
    stay = serializers.CharField()
    de_escalate = serializers.CharField()
    eliminate = serializers.CharField()


class DesignRuleSerializer(serializers.Serializer):
    rule = serializers.CharField()
    text = serializers.CharField()


class DesignSerializer(serializers.Serializer):
    trial = serializers.CharField()
    design = serializers.CharField(help_text="3+3, boin, tite-boin or i3+3")
    levels = serializers.ListField(child=serializers.CharField(), help_text="Dose levels, lowest first")
    starting_level = serializers.CharField()
    parameters = serializers.DictField(child=serializers.JSONField(), help_text="The design's parameters from the protocol")
    lambda_e = serializers.FloatField(allow_null=True, help_text="BOIN: escalate when the DLT rate is at most this")
    lambda_d = serializers.FloatField(allow_null=True, help_text="BOIN: de-escalate when the DLT rate exceeds this")
    decision_table = DecisionRowSerializer(many=True)
    rules = DesignRuleSerializer(many=True, help_text="3+3: its rules")
    error = serializers.CharField(allow_blank=True, help_text="Why the design cannot be applied (empty when it can)")


class DesignView(APIView):
    @extend_schema(responses={200: DesignSerializer, 404: ErrorSerializer})
    def get(self, request, code):
        """The trial's dose-finding design, its parameters and its decision table (no patient data)."""
        return Response(DesignSerializer(selectors.design_sheet(trial_get(code)).as_json()).data)


class OcQuerySerializer(serializers.Serializer):
    true_tox = serializers.CharField(max_length=400, help_text="The true DLT rate per dose level, lowest first, comma-separated (0 to 1)")
    method = serializers.ChoiceField(choices=selectors.OC_METHODS, required=False, help_text="exact (default; not for tite-boin) or mc (Monte Carlo)")
    trials = serializers.IntegerField(
        min_value=2, max_value=selectors.MAX_TRIALS, required=False, help_text="mc: the number of simulated trials (default 1000)"
    )
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=1, help_text="mc: the seed")
    arrivals = serializers.FloatField(min_value=0.1, max_value=100, default=2.0, help_text="tite-boin: patients arriving per assessment window")

    def validate_true_tox(self, value: str) -> tuple[float, ...]:
        try:
            rates = tuple(float(x) for x in value.split(","))
        except ValueError:
            raise serializers.ValidationError("Numbers between 0 and 1, comma-separated.") from None
        if any(not 0 <= p <= 1 for p in rates):  # also refuses nan
            raise serializers.ValidationError("Each true DLT rate lies between 0 and 1.")
        levels = self.context["sheet"].labels
        if len(rates) != len(levels):
            raise serializers.ValidationError(f"Give one rate per dose level ({len(levels)}: {', '.join(levels)}), not {len(rates)}.")
        return rates

    def validate(self, attrs):
        tite = self.context["sheet"].tite
        method = attrs.setdefault("method", "mc" if tite else "exact")
        if method == "exact" and tite:
            raise serializers.ValidationError({"method": ["TITE-BOIN is simulated by Monte Carlo only (method=mc)."]})
        if method == "mc":
            attrs.setdefault("trials", 1000)
        elif "trials" in attrs:
            raise serializers.ValidationError({"trials": ["The exact method enumerates: it takes no number of trials."]})
        return attrs


class OcLevelSerializer(serializers.Serializer):
    level = serializers.CharField()
    true_tox = serializers.FloatField()
    p_select = serializers.FloatField(help_text="P(the level is selected as the MTD)")
    se_select = serializers.FloatField(allow_null=True, help_text="mc: its standard error")
    expected_n = serializers.FloatField(help_text="Expected patients treated at the level")
    se_n = serializers.FloatField(allow_null=True)
    expected_dlt = serializers.FloatField()


class OcSerializer(serializers.Serializer):
    design = serializers.CharField()
    method = serializers.CharField()
    trials = serializers.IntegerField(allow_null=True)
    seed = serializers.IntegerField(allow_null=True)
    states = serializers.IntegerField(help_text="exact: the states enumerated")
    levels = OcLevelSerializer(many=True)
    p_none = serializers.FloatField(help_text="P(no MTD selected: stopped for toxicity, or none)")
    se_none = serializers.FloatField(allow_null=True)
    expected_n_total = serializers.FloatField()
    expected_dlt_total = serializers.FloatField()
    p_overdose60 = serializers.FloatField(help_text="P(more than 60% of the patients at levels whose true rate exceeds the threshold)")
    p_overdose80 = serializers.FloatField()
    overdose_threshold = serializers.FloatField()
    overdose_reported = serializers.BooleanField()


class DesignOcView(APIView):
    @extend_schema(parameters=[OcQuerySerializer], responses={200: OcSerializer, 400: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request, code):
        """The operating characteristics of a scenario for the trial's design: exact enumeration, or seeded Monte Carlo
        (at most 2,000 trials; TITE-BOIN by Monte Carlo only)."""
        sheet = selectors.design_sheet(trial_get(code))
        query = OcQuerySerializer(data=request.query_params, context={"sheet": sheet})
        query.is_valid(raise_exception=True)
        q = query.validated_data
        mc = q["method"] == "mc"
        try:
            oc = selectors.design_oc(sheet, q["true_tox"], method=q["method"], trials=q.get("trials"), seed=q["seed"], arrivals=q["arrivals"])
        except DesignError as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from exc
        table = selectors.oc_table(oc, q["true_tox"])
        body = {
            "design": sheet.spec.name,
            "method": q["method"],
            "trials": oc.trials,
            "seed": q["seed"] if mc else None,
            "states": oc.states,
            "levels": table["oc_rows"],
            "p_none": oc.p_none,
            "se_none": table["se_none"],
            "expected_n_total": table["n_total"],
            "expected_dlt_total": table["dlt_total"],
            "p_overdose60": oc.p_overdose60,
            "p_overdose80": oc.p_overdose80,
            "overdose_threshold": oc.overdose_threshold,
            "overdose_reported": oc.overdose_reported,
        }
        return Response(OcSerializer(body).data)
