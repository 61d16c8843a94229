"""Reads spread over a real streaming replica (DATABASE_REPLICA_URLS), with the primary as fallback.

A module fixture makes a real hot standby of the harness's cluster (``pg_basebackup -R``, the same
PostgreSQL binaries, its own port and data directory inside the harness's folder) and waits until
it is in recovery and has caught up. The portal runs under gunicorn with that replica's URL.

- Reads are served by the replica: with the replica's WAL replay paused, a row inserted on the
  primary stays invisible to pages, counts, detail URLs, streams and the catalog's preview until
  replay resumes (and the replica's pg_stat_activity shows the portal's connections).
- The schema snapshot stays on the primary: a table created while replay is paused is published
  at once, and its reads fall back to the primary (the replica has no such table yet).
- A stopped replica is routed around: under load, every answer is a 200 and fast; a restarted
  replica serves again.

Plus in-process unit tests of ``autoapi.db.replicas`` and a real server whose replica URL leads
nowhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import requests
from django.db import OperationalError, ProgrammingError

from autoapi.db import replicas
from autoapi.errors import SchemaChanged, error_response
from tests.conftest import reader_url, superuser_url
from tests.processes import free_port, pdeathsig
from tests.production.support import portal_server

FAST_SECONDS = 2.0
PROBE = "public.replica_probe"
# A counter in a schema the portal's role may not use (so never published), to see the replica catch up.
MARKER = "replica_test.marker"


def wait_for(predicate, what: str, seconds: float = 15.0, every: float = 0.1):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {seconds} s: {what}")
        time.sleep(every)


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _sql(url: str, statement: str, params=None):
    conn = psycopg2.connect(url, application_name="pytest-replica", connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description is not None else None
    finally:
        conn.close()


# -- a real streaming replica ---------------------------------------------------------------------


class Replica:
    """A hot standby of the harness's cluster, made with pg_basebackup and run as our child.

    As root, its programs run as the harness's OS user (PostgreSQL refuses root). Its folder sits
    in the harness's temporary folder, which the harness deletes whatever happens; the postmaster
    gets SIGQUIT if pytest dies.
    """

    def __init__(self):
        self.bin = Path(os.environ["PORTAL_TEST_PG_BIN"])
        self.os_user = os.environ.get("PORTAL_TEST_PG_OS_USER", "")
        primary = urlsplit(superuser_url())
        self.primary_port = primary.port
        self.base = Path(os.environ["PORTAL_TEST_PG_DATA"]).parent / f"replica-{os.getpid()}"
        self.data = self.base / "data"
        self.logfile = self.base / "replica.log"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    def _as_server_user(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", self.os_user, "--", *cmd] if self.os_user else cmd

    @property
    def superuser_url(self) -> str:
        return _with_port(superuser_url(), self.port)

    @property
    def reader_url(self) -> str:
        return _with_port(reader_url(), self.port)

    def create(self) -> None:
        self._allow_replication()
        self.base.mkdir()
        if self.os_user:
            shutil.chown(self.base, self.os_user, self.os_user)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        cmd = self._as_server_user(
            [
                str(self.bin / "pg_basebackup"),
                "-D",
                str(self.data),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary_port),
                "-U",
                "postgres",
            ]
        )
        done = subprocess.run(
            cmd, cwd=self.base, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            pytest.fail(f"pg_basebackup failed ({done.returncode}):\n{done.stdout}{done.stderr}", pytrace=False)
        assert (self.data / "standby.signal").exists(), "pg_basebackup -R wrote no standby.signal"

    def _allow_replication(self) -> None:
        """initdb --auth=trust allows replication connections from 127.0.0.1; check (and add it if a
        changed default ever drops it)."""
        wal_level, senders = _sql(
            superuser_url(), "SELECT current_setting('wal_level'), current_setting('max_wal_senders')::int"
        )[0]
        assert wal_level in ("replica", "logical") and senders > 0, (wal_level, senders)
        rules = _sql(
            superuser_url(),
            "SELECT count(*) FROM pg_hba_file_rules WHERE type = 'host' AND "
            "'replication' = ANY(database) AND address = '127.0.0.1' AND auth_method = 'trust'",
        )
        if rules[0][0] == 0:
            hba = _sql(superuser_url(), "SHOW hba_file")[0][0]
            with open(hba, "a", encoding="utf-8") as fh:  # as root: the file keeps its owner
                fh.write("host replication all 127.0.0.1/32 trust  # tests/production/test_replicas.py\n")
            _sql(superuser_url(), "SELECT pg_reload_conf()")

    def start(self) -> None:
        """Start it; a restart keeps its port (the portal's DATABASE_REPLICA_URLS names it)."""
        for attempt in range(3):
            if self.port is None or attempt > 0:
                self.port = free_port()
            with open(self.data / "postgresql.auto.conf", "a", encoding="utf-8") as fh:
                fh.write(
                    f"# tests/production/test_replicas.py\nport = '{self.port}'\n"
                    f"unix_socket_directories = '{self.base}'\nhot_standby = 'on'\n"
                )
            postgres = [str(self.bin / "postgres"), "-D", str(self.data)]
            if self.os_user:
                cmd = self._as_server_user(["setpriv", "--pdeathsig", "SIGQUIT", "--", *postgres])
                preexec = pdeathsig(signal.SIGKILL)
            else:
                cmd, preexec = postgres, pdeathsig(signal.SIGQUIT)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
            with open(self.logfile, "ab") as log:
                offset = log.tell()
                self.proc = subprocess.Popen(
                    cmd,
                    cwd=self.base,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=preexec,
                )
            if self._wait_accepting(timeout=60):
                return
            self.stop()
            text = self.log(offset)
            if "could not bind" in text or "already in use" in text:
                continue
            break
        pytest.fail(f"the replica did not start:\n{self.log()[-4000:]}", pytrace=False)

    def _wait_accepting(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if _sql(self.superuser_url, "SELECT pg_is_in_recovery()")[0][0]:
                    return True
            except psycopg2.OperationalError:
                pass
            time.sleep(0.1)
        return False

    def log(self, offset: int = 0) -> str:
        try:
            with open(self.logfile, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Fast shutdown (its sessions are terminated), as an operator or a failing host would."""
        if not self.is_running():
            return
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            pid = self.proc.pid
        for sig, wait in ((signal.SIGINT, 30), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        self.proc.kill()
        self.proc.wait()

    def wait_caught_up(self, seconds: float = 30) -> None:
        """Until the replica has replayed everything the primary committed so far: a counter bumped
        on the primary now shows on the replica. (Comparing WAL positions is less simple than it
        looks: with the harness's synchronous_commit=off the last commit may not be flushed yet,
        and the insert position can sit past a page header that no record follows.)"""
        mark = _sql(superuser_url(), f"UPDATE {MARKER} SET n = n + 1 RETURNING n")[0][0]
        wait_for(
            lambda: _sql(self.superuser_url, f"SELECT pg_is_in_recovery() AND n >= %s FROM {MARKER}", [mark])[0][0],
            f"the replica replays the primary's mark {mark}",
            seconds,
            every=0.02,
        )

    def pause_replay(self) -> None:
        _sql(self.superuser_url, "SELECT pg_wal_replay_pause()")
        wait_for(lambda: _sql(self.superuser_url, "SELECT pg_is_wal_replay_paused()")[0][0], "replay paused")

    def resume_replay(self) -> None:
        _sql(self.superuser_url, "SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="module")
def replica(pg_cluster):
    if not os.environ.get("PORTAL_TEST_PG_DATA") or not os.environ.get("PORTAL_TEST_PG_BIN"):
        pytest.skip("the cluster was given by the environment without its PORTAL_TEST_PG_* variables")
    _sql(superuser_url(), f"DROP TABLE IF EXISTS {PROBE}, public.replica_fresh")
    _sql(superuser_url(), "DROP SCHEMA IF EXISTS replica_test CASCADE")
    _sql(superuser_url(), "CREATE SCHEMA replica_test")
    _sql(superuser_url(), f"CREATE TABLE {MARKER} (n bigint NOT NULL)")
    _sql(superuser_url(), f"INSERT INTO {MARKER} VALUES (0)")
    _sql(superuser_url(), f"CREATE TABLE {PROBE} (id integer PRIMARY KEY, label text NOT NULL)")
    _sql(superuser_url(), f"INSERT INTO {PROBE} VALUES (1, 'first row')")
    _sql(superuser_url(), f"GRANT SELECT ON {PROBE} TO portal_reader")
    server = Replica()
    try:
        server.create()
        server.start()
        server.wait_caught_up()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)
        _sql(superuser_url(), f"DROP TABLE IF EXISTS {PROBE}, public.replica_fresh")
        _sql(superuser_url(), "DROP SCHEMA IF EXISTS replica_test CASCADE")
        from autoapi.web.registry import registry

        registry.refresh_now()  # this process's snapshot forgets the probe tables before the next module


@pytest.fixture(scope="module")
def portal(replica, tmp_path_factory):
    # The export cache off: its writer reads the primary (docs/downloads.md, "Data versions and stored
    # downloads"), and these tests show where each live read goes.
    with portal_server(
        tmp_path_factory.mktemp("replicas"),
        DATABASE_REPLICA_URLS=replica.reader_url,
        PORTAL_REPLICA_RETRY_SECONDS="1",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="4",
        GUNICORN_MAX_REQUESTS="0",
        PORTAL_EXPORT_CACHE_MB="0",
    ) as server:
        yield server


@pytest.fixture
def running_replica(replica):
    """The replica up, replaying, caught up, and the probe table back to its one row."""
    if not replica.is_running():
        replica.start()
    replica.resume_replay()
    _sql(superuser_url(), f"DELETE FROM {PROBE} WHERE id <> 1")
    _sql(superuser_url(), "DROP TABLE IF EXISTS public.replica_fresh")
    replica.wait_caught_up()
    yield replica
    if replica.is_running():
        replica.resume_replay()


def _get(portal, path: str, **kwargs) -> requests.Response:
    return requests.get(portal.base_url + path, timeout=30, **kwargs)


def _count(portal) -> int:
    response = _get(portal, "/api/public/replica_probe/")
    assert response.status_code == 200, response.text
    return response.json()["count"]


def _log_entries(portal) -> list[dict]:
    return [json.loads(line) for line in portal.log().splitlines() if line.startswith("{")]


def _replica_warnings(portal) -> int:
    return sum(1 for e in _log_entries(portal) if e["logger"] == "autoapi.db.replicas")


# -- the tests against the real replica ------------------------------------------------------------


def test_reads_are_served_by_the_replica(portal, running_replica):
    replica = running_replica
    assert _count(portal) == 1
    replica.pause_replay()
    _sql(superuser_url(), f"INSERT INTO {PROBE} VALUES (2, 'row-two-token')")
    assert _sql(superuser_url(), f"SELECT count(*) FROM {PROBE}")[0][0] == 2
    time.sleep(0.5)  # long enough for the row to have reached the replica, had it been replaying
    for _ in range(12):  # every worker and thread: none reads the primary
        page = _get(portal, "/api/public/replica_probe/")
        assert page.status_code == 200 and page.json()["count"] == 1, page.text
        assert [row["id"] for row in page.json()["results"]] == [1]
        assert _get(portal, "/api/public/replica_probe/2/").status_code == 404
        assert _get(portal, "/api/public/replica_probe/1/").status_code == 200
        csv = _get(portal, "/api/public/replica_probe/?format=csv")
        assert csv.status_code == 200 and b"row-two-token" not in csv.content
        stream = _get(portal, "/api/public/replica_probe/?limit=all&format=ndjson")
        assert stream.status_code == 200 and [json.loads(line)["id"] for line in stream.text.splitlines()] == [1]
        catalog = _get(portal, "/catalog/public/replica_probe/")
        assert catalog.status_code == 200 and "first row" in catalog.text and "row-two-token" not in catalog.text
    # The portal's own sessions on the replica, under its application_name.
    sessions = _sql(replica.superuser_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg-portal'")
    assert sessions[0][0] >= 1
    replica.resume_replay()
    wait_for(lambda: _count(portal) == 2, "the row once the replica replays it", 10)
    assert _get(portal, "/api/public/replica_probe/2/").status_code == 200


def test_the_snapshot_stays_on_the_primary_and_a_new_table_falls_back_to_it(portal, running_replica):
    replica = running_replica
    warnings_before = _replica_warnings(portal)
    replica.pause_replay()
    _sql(superuser_url(), f"INSERT INTO {PROBE} VALUES (2, 'row-two-token')")
    _sql(superuser_url(), "CREATE TABLE public.replica_fresh (id integer PRIMARY KEY, note text)")
    _sql(superuser_url(), "INSERT INTO public.replica_fresh VALUES (7, 'only on the primary so far')")
    _sql(superuser_url(), "GRANT SELECT ON public.replica_fresh TO portal_reader")
    # The snapshot is read on the primary: the new table is published although the replica lacks it.
    wait_for(lambda: "replica_fresh" in _get(portal, "/api/").text, "the new table in /api/", 10)
    # Every worker keeps its own snapshot: wait until all of them publish it (several in a row).
    wait_for(
        lambda: all(
            _get(portal, path).status_code == 200
            for _ in range(6)
            for path in ("/api/public/replica_fresh/", "/api/public/replica_fresh/7/")
        ),
        "the new table published by every worker",
        10,
    )
    with pytest.raises(psycopg2.errors.UndefinedTable):
        _sql(replica.reader_url, "SELECT 1 FROM public.replica_fresh")
    for _ in range(8):  # its reads fall back to the primary: no 404, no 5xx
        page = _get(portal, "/api/public/replica_fresh/")
        assert page.status_code == 200, page.text
        assert page.json()["count"] == 1 and page.json()["results"][0]["note"] == "only on the primary so far"
        detail = _get(portal, "/api/public/replica_fresh/7/")
        assert detail.status_code == 200, detail.text
        assert _get(portal, "/api/public/replica_fresh/?format=csv").status_code == 200
        assert _get(portal, "/api/public/replica_fresh/?limit=all&format=ndjson").status_code == 200
        catalog = _get(portal, "/catalog/public/replica_fresh/")
        assert catalog.status_code == 200 and "only on the primary so far" in catalog.text
        # ... while the old tables are still read on the (paused) replica.
        assert _count(portal) == 1
    # /readyz checks the primary.
    assert _get(portal, "/readyz").json()["status"] == "ready"
    # Falling back was no error worth a traceback, and the replica was never marked down for it.
    assert not [e for e in _log_entries(portal) if e["logger"] == "django.request"]
    assert _replica_warnings(portal) == warnings_before


URLS_UNDER_LOAD = (
    "/api/public/replica_probe/",
    "/api/public/replica_probe/1/",
    "/api/public/replica_probe/?format=csv",
    "/api/public/replica_probe/?limit=all&format=ndjson",
    "/api/public/replica_probe/?limit=all&format=csv",
    "/api/public/big_2500/?limit=5&grp=3",
    "/catalog/public/replica_probe/",
    "/api/",
)


class Load:
    """Clients looping over URLS_UNDER_LOAD until stopped, recording (url, started, seconds, status)."""

    def __init__(self, base_url: str, threads: int = 6):
        self.base_url = base_url
        self.results: list[tuple] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, index: int):
        session = requests.Session()
        i = index
        while not self._stop.is_set():
            url = URLS_UNDER_LOAD[i % len(URLS_UNDER_LOAD)]
            i += 1
            started = time.monotonic()
            try:
                status = session.get(self.base_url + url, timeout=30).status_code
            except requests.RequestException as exc:
                status = repr(exc)
                session = requests.Session()
            self.results.append((url, started, time.monotonic() - started, status))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def test_a_stopped_replica_is_routed_around_and_a_restarted_one_serves_again(portal, running_replica):
    replica = running_replica
    for url in URLS_UNDER_LOAD:  # warm: every worker holds connections to the replica
        for _ in range(4):
            assert _get(portal, url).status_code == 200, url
    with Load(portal.base_url) as load:
        time.sleep(1.0)
        stopped_at = time.monotonic()
        replica.stop()
        # Several REPLICA_RETRY_SECONDS (1 s here): the dead replica is tried again, and again refused.
        time.sleep(4.0)
    results = load.results
    failures = [r for r in results if r[3] != 200]
    assert not failures, failures[:5]
    slow = [r for r in results if r[2] > FAST_SECONDS]
    assert not slow, slow[:5]
    after = [r for r in results if r[1] > stopped_at + 0.5]
    assert len(after) > 50, len(after)
    print(
        f"\n{len(results)} requests, {len(after)} after the replica stopped, all 200, slowest "
        f"{max(r[2] for r in results):.3f} s, slowest after the stop {max(r[2] for r in after):.3f} s"
    )
    # The primary answers now: it has the row the (stopped) replica never replayed.
    _sql(superuser_url(), f"INSERT INTO {PROBE} VALUES (3, 'written while the replica is down')")
    assert _count(portal) == 2
    entries = _log_entries(portal)
    assert not [e for e in entries if e["logger"] == "django.request"], portal.tail()
    assert {e["status"] for e in entries if e["logger"] == "portal.request"} <= {200, 404}
    assert any(e["logger"] == "autoapi.db.replicas" and e["level"] == "WARNING" for e in entries)

    # Restarted, the replica serves again (within REPLICA_RETRY_SECONDS): with its replay paused,
    # a new row on the primary is not seen.
    replica.start()
    replica.wait_caught_up()
    replica.pause_replay()
    _sql(superuser_url(), f"INSERT INTO {PROBE} VALUES (4, 'written while replay is paused again')")
    wait_for(lambda: all(_count(portal) == 2 for _ in range(8)), "reads back on the replica", 10)
    replica.resume_replay()
    wait_for(lambda: _count(portal) == 3, "the replica replays the new row", 10)


# -- a replica that is never there -----------------------------------------------------------------


@pytest.mark.db
def test_a_replica_url_that_leads_nowhere_costs_nothing(tmp_path):
    nowhere = _with_port(reader_url(), free_port())  # nothing listens there: refused at once
    with portal_server(
        tmp_path, DATABASE_REPLICA_URLS=f"{nowhere},{nowhere}", GUNICORN_WORKERS="1", PORTAL_REPLICA_RETRY_SECONDS="0.5"
    ) as server:
        for _ in range(3):
            for url in URLS_UNDER_LOAD[:5] + ("/api/public/single_pk/1/", "/catalog/public/single_pk/"):
                if "replica_probe" in url:
                    url = url.replace("replica_probe", "single_pk")
                started = time.monotonic()
                response = requests.get(server.base_url + url, timeout=30)
                assert response.status_code == 200, (url, response.status_code, response.text[:300])
                assert time.monotonic() - started < FAST_SECONDS
            time.sleep(0.6)  # the replicas are tried again (and refused again)
        entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        assert not [e for e in entries if e["logger"] == "django.request"]
        # The replicas were tried (and found down), not ignored.
        assert any(e["logger"] == "autoapi.db.replicas" and e["level"] == "WARNING" for e in entries)


# -- in process: the choice and the fallback ------------------------------------------------------


@pytest.fixture
def two_replicas(monkeypatch):
    monkeypatch.setattr(replicas, "replica_aliases", lambda: ["replica_0", "replica_1"])
    replicas.reset()
    yield
    replicas.reset()


class FakeRequest:
    pass


def _cause(sqlstate: str) -> Exception:
    """What psycopg2 raises, as far as the error translation looks: an exception with a pgcode."""
    return type("PgError", (Exception,), {"pgcode": sqlstate, "diag": None})(f"SQLSTATE {sqlstate}")


def test_without_replicas_everything_reads_the_primary():
    assert replicas.replica_aliases() == []
    assert replicas.read_alias(FakeRequest()) == "published"
    assert replicas.read_alias() == "published"


def test_replicas_take_turns_and_a_request_keeps_its_choice(two_replicas):
    chosen = {replicas.read_alias(FakeRequest()) for _ in range(4)}
    assert chosen == {"replica_0", "replica_1"}
    request = FakeRequest()
    first = replicas.read_alias(request)
    assert all(replicas.read_alias(request) == first for _ in range(5))


def test_a_replica_marked_down_is_left_out_then_tried_again(two_replicas, settings):
    settings.PORTAL = {**settings.PORTAL, "REPLICA_RETRY_SECONDS": 0.3}
    replicas.mark_down("replica_0", "test")
    assert {replicas.read_alias(FakeRequest()) for _ in range(4)} == {"replica_1"}
    replicas.mark_down("replica_1", "test")
    assert replicas.read_alias(FakeRequest()) == "published"
    time.sleep(0.35)
    assert {replicas.read_alias(FakeRequest()) for _ in range(4)} == {"replica_0", "replica_1"}


def test_run_falls_back_to_the_primary_once(two_replicas):
    calls = []

    def work(alias):
        calls.append(alias)
        if alias != "published":
            raise OperationalError("connection to server failed: Connection refused")
        return "rows"

    request = FakeRequest()
    assert replicas.run(request, work) == "rows"
    assert calls[0].startswith("replica_") and calls[1:] == ["published"]
    assert replicas.read_alias(request) == "published"
    assert calls[0] not in replicas.healthy_replicas()


def test_run_falls_back_without_marking_down_when_the_replica_lags(two_replicas):
    missing = ProgrammingError("relation does not exist")
    missing.__cause__ = _cause("42P01")

    def work(alias):
        if alias != "published":
            raise missing
        return "rows"

    assert replicas.run(FakeRequest(), work) == "rows"
    assert replicas.healthy_replicas() == ["replica_0", "replica_1"]


def test_run_does_not_retry_what_the_primary_would_refuse_too(two_replicas):
    timeout = OperationalError("canceling statement due to statement timeout")
    timeout.__cause__ = _cause("57014")
    calls = []

    def work(alias):
        calls.append(alias)
        raise timeout

    with pytest.raises(OperationalError):
        replicas.run(FakeRequest(), work)
    assert len(calls) == 1


def _answer(exc: Exception, *, filtered: bool = False):
    """The error answer a view makes of a database exception: translated, raised from it (as the
    views do), and written by the one error handler."""
    from autoapi.errors import PortalError, error_response, translate_database_error

    try:
        raise translate_database_error(exc, filtered=filtered) from exc
    except PortalError as error:
        return error_response(error)


def _real_error(sql: str) -> psycopg2.Error:
    """What PostgreSQL itself raises for ``sql``, on the harness's database."""
    conn = psycopg2.connect(reader_url())
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    except psycopg2.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError(f"{sql} did not fail")


def _busy_pool_error() -> psycopg2.Error:
    """What the portal's own pool raises when every connection of it is lent."""
    from portal.pgpool.pool import Pool

    pool = Pool(1, 60, 0.05)
    conn = pool.getconn(lambda: psycopg2.connect(reader_url()))
    try:
        pool.getconn(lambda: psycopg2.connect(reader_url()))
    except psycopg2.OperationalError as exc:
        return exc
    finally:
        pool.putconn(conn)
        pool.close_idle()
    raise AssertionError("a pool of one lent twice")


def _refused_connection() -> psycopg2.Error:
    try:
        psycopg2.connect(host="127.0.0.1", port=free_port(), dbname="x", connect_timeout=2)
    except psycopg2.OperationalError as exc:
        return exc
    raise AssertionError("a free port accepted a connection")


@pytest.mark.db
def test_fall_back_after_a_response(two_replicas):
    class Response:
        def __init__(self, status):
            self.status_code = status

    request = FakeRequest()
    replicas.read_alias(request)
    assert not replicas.fall_back(request, Response(200))
    assert not replicas.fall_back(request, Response(400))
    assert replicas.fall_back(
        request, error_response(SchemaChanged("this relation or one of its columns no longer exists"))
    )
    assert replicas.read_alias(request) == "published"
    unreachable = _answer(_refused_connection())
    assert unreachable.status_code == 503
    assert not replicas.fall_back(request, unreachable)  # already on the primary: answer as is
    request = FakeRequest()
    down = replicas.read_alias(request)
    assert replicas.fall_back(request, unreachable)
    assert down not in replicas.healthy_replicas()


@pytest.mark.db
def test_only_the_replicas_health_moves_reads_to_the_primary(two_replicas):
    """This process's own 503s (its pool lent out, its downloads all running) and the errors a
    client's input causes say nothing about the replica: answered as they are, the replica kept."""
    from autoapi.errors import error_response
    from autoapi.formats.exports import ExportsBusy

    busy = _answer(_busy_pool_error())
    data = _answer(_real_error("SELECT 1 / 0"))  # 22012, as an unfiltered read sees it: a 409 today
    cast = _answer(_real_error("SELECT 'x'::int"))
    limit = _answer(_real_error("SELECT repeat('x', 1073741824)"))  # 54000: program limit
    downloads = error_response(ExportsBusy("too many downloads are running"))
    assert busy.status_code == 503 and downloads.status_code == 503
    for answer in (busy, data, cast, limit, downloads):
        request = FakeRequest()
        alias = replicas.read_alias(request)
        assert not replicas.fall_back(request, answer), answer.content
        assert replicas.read_alias(request) == alias
    assert replicas.healthy_replicas() == ["replica_0", "replica_1"]


@pytest.mark.db
@pytest.mark.parametrize(
    "make_error", [_busy_pool_error, lambda: _real_error("SELECT 1 / 0"), lambda: _real_error("SELECT 'x'::int")]
)
def test_run_does_not_retry_a_busy_pool_nor_the_clients_error_on_the_primary(two_replicas, make_error):
    error = make_error()
    calls = []

    def work(alias):
        calls.append(alias)
        raise error

    with pytest.raises(psycopg2.Error):
        replicas.run(FakeRequest(), work, filtered=False)
    assert len(calls) == 1 and calls[0].startswith("replica_")
    assert replicas.healthy_replicas() == ["replica_0", "replica_1"]
