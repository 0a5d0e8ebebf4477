from django.apps import AppConfig


class DatamanagementConfig(AppConfig):
    name = "datamanagement"
    verbose_name = "Data management"
