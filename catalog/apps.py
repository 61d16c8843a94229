"""The HTML catalog: people's view of the published relations.

Reads autoapi's public surface only (``autoapi.public`` and ``autoapi.conf.portal_setting``) and
hands templates plain dicts, as ``django.contrib.admindocs`` does with model metadata.
"""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Data catalog"

    def ready(self):
        from autoapi.public import add_openapi_paths, on_check
        from catalog import checks  # noqa: F401 - registers the system checks
        from catalog.standards import changelog, openapi

        on_check(changelog.recorder)  # each process's schema watcher feeds the change log
        add_openapi_paths(openapi.paths)  # the standards' documents and feeds in /api/schema/
