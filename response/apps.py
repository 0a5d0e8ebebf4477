from django.apps import AppConfig


class ResponseConfig(AppConfig):
    name = "response"
    verbose_name = "Response and endpoints"
