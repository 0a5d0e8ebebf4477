from django.apps import AppConfig


class ToxicityConfig(AppConfig):
    name = "toxicity"
    verbose_name = "Toxicity: adverse events, labs and DLTs"
