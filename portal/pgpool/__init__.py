"""Django's PostgreSQL backend with a bounded, per-process pool of psycopg2 connections.

``ENGINE: "portal.pgpool"`` (see ``base.py``). Django gives each thread its own connection; with
many request threads (a slow download holds one, docs/operations.md, "Slow clients") that would mean as many
PostgreSQL connections. Here a thread borrows a connection only while it runs a view, and the
process never holds more than ``PORTAL["DB_CONNECTIONS"]`` per database server.
"""
