"""{% form_token %}: the one-time token of a form that creates a record (trialsite.idempotency, issue #17 point 5).

One line in the form, beside {% csrf_token %}: a hidden field carrying the token the posted form sent (so a form
shown again with its errors keeps it, and a resend of the corrected form is still recognised), or a fresh one.
On a page with several such forms, name the form's `action` (the value of its hidden "action" field): only the
form that was posted keeps its token, the others get fresh ones. The view's form_once consumes it.
"""

from django import template
from django.utils.html import format_html

from trialsite.idempotency import FORM_FIELD, form_token_for

register = template.Library()


@register.simple_tag(takes_context=True)
def form_token(context, action: str | None = None) -> str:
    return format_html('<input type="hidden" name="{}" value="{}">', FORM_FIELD, form_token_for(context["request"], action))
