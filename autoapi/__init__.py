"""autoapi: reads a PostgreSQL catalog into a snapshot and serves every relation as a read-only API.

The catalog app and anything else outside this package use only ``autoapi.public``.
"""
