"""Helpers for the production tests: the portal under gunicorn with ITS OWN configuration file
(``portal/gunicorn.conf.py``, so the tests exercise the deployed set-up), stopping and starting the
harness's PostgreSQL, and a checksum of every fixture table.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from tests.processes import die_with_parent, free_port, tail

ROOT = Path(__file__).resolve().parent.parent.parent





# -- the portal under gunicorn --------------------------------------------------------------------


@dataclass
class PortalServer:
    base_url: str
    process: subprocess.Popen
    logfile: Path

    def worker_pids(self) -> set[int]:
        """The gunicorn workers: the master's children."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in children.read_text().split()}
        except OSError:
            out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
            return {int(pid) for pid in out.stdout.split()}

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def tail(self, lines: int = 80) -> str:
        return tail(self.logfile, lines)


@contextlib.contextmanager
def portal_server(log_dir: Path, scheme: str = "http", **env_overrides: str):
    """``gunicorn -c portal/gunicorn.conf.py portal.wsgi:application`` on a free loopback port.

    ``env_overrides`` go to its environment (``GUNICORN_WORKERS="2"``, ``PORTAL_STATEMENT_TIMEOUT_MS=
    "500"``, ``DATABASE_URL=...``). Waits until ``/healthz`` answers; stops the server on exit.
    ``scheme="https"`` when the overrides give gunicorn a certificate (not verified here).
    """
    import requests

    gunicorn = Path(sys.executable).parent / "gunicorn"
    launcher = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    port = free_port()
    base_url = f"{scheme}://127.0.0.1:{port}"
    logfile = log_dir / f"portal-{port}.log"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="portal.settings", PYTHONUNBUFFERED="1",
               HOST="127.0.0.1", PORT=str(port), GUNICORN_WORKERS="2", GUNICORN_THREADS="4",
               GUNICORN_GRACEFUL_TIMEOUT="5")
    env.update(env_overrides)
    cmd = [*launcher, "-c", str(ROOT / "portal" / "gunicorn.conf.py"), "portal.wsgi:application"]
    with open(logfile, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    server = PortalServer(base_url, proc, logfile)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {proc.returncode}:\n{server.tail()}", pytrace=False)
            try:
                if requests.get(base_url + "/healthz", timeout=5, verify=False).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer /healthz within 60 s:\n{server.tail()}", pytrace=False)
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- the harness's PostgreSQL ------------------------------------------------------------------


class PgControl:
    """Stop and start the harness's cluster (the one every test uses) with ``pg_ctl``.

    After ``start()`` the postmaster is pg_ctl's daemon rather than the harness's child; the
    harness's clean-up stops it through the data directory's postmaster.pid all the same (and a
    harness that died is cleaned up by the next run's orphan reaping).
    """

    def __init__(self):
        self.bin = Path(os.environ["PORTAL_TEST_PG_BIN"])
        self.data = Path(os.environ["PORTAL_TEST_PG_DATA"])
        self.logfile = Path(os.environ["PORTAL_TEST_PG_LOG"])
        self.os_user = os.environ.get("PORTAL_TEST_PG_OS_USER", "")

    @classmethod
    def available(cls) -> bool:
        return all(os.environ.get(name) for name in ("PORTAL_TEST_PG_BIN", "PORTAL_TEST_PG_DATA", "PORTAL_TEST_PG_LOG"))

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        proc = subprocess.run(cmd, cwd=self.data.parent, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")

    def is_running(self) -> bool:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"]
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0

    def stop(self) -> None:
        """Fast shutdown: sessions are terminated, new connections refused."""
        self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")

    def start(self) -> None:
        # -l appends the server's output to the harness's log; -w waits until it accepts connections.
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.logfile))


# -- the fixture database, unchanged -----------------------------------------------------------------

CHECKSUM_SQL = """
SELECT n.nspname, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def database_checksum(superuser_url: str) -> dict:
    """Per table and materialized view: row count and md5 of every row's text; plus the catalog's
    list of relations, roles' privileges and columns, so that a DDL or GRANT also shows."""
    conn = psycopg2.connect(superuser_url, application_name="pytest-checksum")
    conn.autocommit = True
    result = {}
    try:
        with conn.cursor() as cur:
            cur.execute(CHECKSUM_SQL)
            relations = cur.fetchall()
            for schema, name, kind in relations:
                quoted = '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'
                if kind == "m":
                    cur.execute(f"SELECT relispopulated FROM pg_class WHERE oid = %s::regclass", [quoted])
                    if not cur.fetchone()[0]:
                        result[(schema, name)] = "unpopulated"
                        continue
                cur.execute(f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {quoted} AS t")
                result[(schema, name)] = cur.fetchone()
            cur.execute(
                "SELECT md5(string_agg(format('%s.%s:%s:%s', n.nspname, c.relname, c.relkind, c.relacl), ',' "
                "ORDER BY n.nspname, c.relname)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"
            )
            result["catalog"] = cur.fetchone()[0]
            cur.execute("SELECT md5(string_agg(format('%s:%s:%s', rolname, rolsuper, rolconfig), ',' ORDER BY rolname)) FROM pg_roles")
            result["roles"] = cur.fetchone()[0]
    finally:
        conn.close()
    return result
