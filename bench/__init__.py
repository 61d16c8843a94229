"""`make bench`: the portal's speed, each figure set against PostgreSQL doing the same work alone.

Run with ``.venv/bin/python -m bench.run``; see bench/run.py.
"""
