"""Account forms check shape; the rules (a coordinator has a site, no self-deactivation) are in services."""

from django import forms
from django.contrib.auth.forms import PasswordChangeForm

from trialsite.audit import MIN_REASON

from .models import Site, User
from .roles import Role

ROLE_CHOICES = [("", "Choose a role"), *((r.value, r.label) for r in Role)]


class PersonForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False, help_text="For your records; Trialsite sends no email.")
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    site = forms.ModelChoiceField(queryset=Site.objects.filter(active=True), required=False, help_text="Required for a research coordinator.")


class InviteForm(PersonForm):
    username = forms.CharField(max_length=150, validators=[User.username_validator], help_text="Letters, digits and @/./+/-/_ only.")
    field_order = ["username", "first_name", "last_name", "email", "role", "site"]


class ReasonForm(forms.Form):
    reason = forms.CharField(min_length=MIN_REASON, max_length=200, help_text="Kept in the account's history.")


class UserEditForm(PersonForm, ReasonForm):
    pass


class OwnPasswordForm(PasswordChangeForm):
    """Django's check of the current password and of the new one against AUTH_PASSWORD_VALIDATORS;
    saving is the service's (accounts.services.user_password_change)."""
