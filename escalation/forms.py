"""The investigators' electronic signature forms (password re-entered)."""

from django import forms


class SignForm(forms.Form):
    password = forms.CharField(label="Your password (electronic signature)", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class RejectDecisionForm(forms.Form):
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}))
    password = forms.CharField(label="Your password (electronic signature)", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
