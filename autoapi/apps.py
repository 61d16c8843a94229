from django.apps import AppConfig


class AutoapiConfig(AppConfig):
    name = "autoapi"
    verbose_name = "Automatic read-only API"

    def ready(self):
        from autoapi import checks

        checks.register()
