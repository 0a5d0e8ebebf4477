from django.apps import AppConfig


class PipelineConfig(AppConfig):
    """Derived results, brought up to date from the outbox in the order the data flows (pipeline/flow.py)."""

    name = "pipeline"
    verbose_name = "Derived-results pipeline"

    def ready(self) -> None:
        # The outbox kicks pipeline.drain by name (trialsite sits below this app): register it in every process.
        from . import tasks  # noqa: F401
