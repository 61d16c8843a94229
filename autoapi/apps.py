from django.apps import AppConfig


class AutoapiConfig(AppConfig):
    name = "autoapi"
    verbose_name = "Automatic read-only API"
