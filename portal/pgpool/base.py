"""``ENGINE: "portal.pgpool"``: the portal's PostgreSQL backend (``autoapi.db``), borrowing from ``pool.Pool``.

Django opens a connection at a thread's first query and, with ``CONN_MAX_AGE = 0`` (which
``portal/settings.py`` sets for this engine), closes it when the request ends; here "open" borrows
from the process's pool and "close" gives back, so the connection stays open for the next request
of any thread. ``PORTAL_CONN_MAX_AGE`` is how long the pool keeps one.
"""

from autoapi.db import base  # Django's PostgreSQL backend with the portal's compiler
from portal.pgpool.pool import pool_for


class DatabaseWrapper(base.DatabaseWrapper):
    def _pool(self):
        options = self.settings_dict["POOL"]
        return pool_for(self.alias, options["SIZE"], options["MAX_AGE"], options["TIMEOUT"])

    def get_new_connection(self, conn_params):
        make = super().get_new_connection
        return self._pool().getconn(lambda: make(conn_params))

    def _close(self):
        if self.connection is not None:
            with self.wrap_database_errors:
                self._pool().putconn(self.connection)
