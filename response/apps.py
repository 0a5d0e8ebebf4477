from django.apps import AppConfig


class ResponseConfig(AppConfig):
    name = "response"
    verbose_name = "Response and endpoints"

    def ready(self):
        from django.db import connection

        if connection.vendor == "sqlite":  # the recompute reads decimals through a converter of its own
            from .services import register_sqlite_decimal

            register_sqlite_decimal()
