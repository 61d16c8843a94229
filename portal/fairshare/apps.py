from django.apps import AppConfig


class FairShareConfig(AppConfig):
    name = "portal.fairshare"
    label = "fairshare"

    def ready(self):
        from portal.fairshare import checks  # noqa: PLC0415 (apps are imported before models are ready)

        checks.register()
