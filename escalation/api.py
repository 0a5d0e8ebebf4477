"""REST endpoints for escalation: the engine's current state, the decisions, signing and rejecting."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Perm
from cohorts.selectors import site_mask, trial_get
from trialsite.api import signature_password_field
from trialsite.idempotency import idempotent_action

from . import selectors, services
from .models import EscalationDecision


class DecisionSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")
    level = serializers.CharField(source="level.label", allow_null=True, default=None)
    mtd = serializers.CharField(source="mtd.label", allow_null=True, default=None)
    signed_by = serializers.CharField(source="signed_by.username", allow_null=True, default=None)

    class Meta:
        model = EscalationDecision
        fields = ["id", "trial", "action", "level", "mtd", "rule", "reason", "slots", "tally", "dlts", "status", "proposed_at"]
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


class StateSerializer(serializers.Serializer):
    action = serializers.CharField()
    level = serializers.CharField(allow_null=True)
    mtd = serializers.CharField(allow_null=True)
    rule = serializers.CharField()
    reason = serializers.CharField()
    slots = serializers.IntegerField()
    patients = PatientStateSerializer(many=True)
    other_sites = SiteCountSerializer(many=True, help_text="Other sites' patients, counted without identifiers (a coordinator's view)")


class EscalationStateView(APIView):
    @extend_schema(responses=StateSerializer)
    def get(self, request, code):
        """What the 3+3 engine answers now, with each escalation patient's outcome and window."""
        state = selectors.state_for_user(selectors.escalation_state(trial_get(code)), request.user)
        d = state.decision
        body = {"action": d.action.value, "level": d.level, "mtd": d.mtd, "rule": d.rule, "reason": d.reason, "slots": d.slots}
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
