"""The investigators' electronic signature forms (password re-entered)."""

from django import forms

from trialsite.forms import signature_password


class SignForm(forms.Form):
    password = signature_password(required=True)


class RejectDecisionForm(forms.Form):
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}))
    password = signature_password(required=True)
