"""The published database's Django backend: Django's PostgreSQL backend, with one guard relaxed.

``settings.DATABASES`` names it as ``ENGINE = "autoapi.db"`` (see ``portal/dburl.py``).
"""
