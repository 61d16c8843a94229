"""The HTML catalog: people's view of the published relations.

Reads autoapi's public surface only (``autoapi.public`` and ``autoapi.conf.portal_setting``) and
hands templates plain dicts, as ``django.contrib.admindocs`` does with model metadata.
"""
