from django.apps import AppConfig


class TrialsiteConfig(AppConfig):
    """The core layer: audit, units, errors, the API error format and the outbox every app writes to."""

    name = "trialsite"
    verbose_name = "Trialsite core"
    default_auto_field = "django.db.models.BigAutoField"
