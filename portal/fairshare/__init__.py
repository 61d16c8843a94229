"""Fair share: per-client request rate limits, caps on requests in flight and on a client's share
of the database connections, caps on concurrent whole-relation downloads, and
optional API keys that raise a client's limits (docs/operations.md, "Fair share").

- ``store.py``: the counters, in Redis when ``REDIS_URL`` is set (shared by every process and
  host), else in this process's memory; a Redis outage falls back to memory, never an error.
- ``clients.py``: who a request comes from: its address (through trusted proxies only) or its API key.
- ``share.py``: a client's share of this process's pooled connections (admission before the
  pool is full).
- ``middleware.py``: ``FairShareMiddleware``, the one place the limits are applied.
"""
