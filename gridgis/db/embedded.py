"""The project-private PostGIS cluster: system initdb/pg_ctl, data under .gridgis/."""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from gridgis.errors import EmbeddedClusterError
from gridgis.private_files import read_private, write_private
from gridgis.settings import Settings

SUPERUSER = "gridgis"
SERVICE_OS_USER = "postgres"


@dataclass(frozen=True)
class ClusterPaths:
    """Where the cluster's pieces live.

    `home` (.gridgis/) holds the credentials. `server` holds the data folder and the log. Run
    by an ordinary user, both are `home`. Run as root, the server runs as the postgres OS user
    and gets its own folder, owned by that user, apart from the secrets root writes: `home`
    stays root's (mode 711, so the server can pass through to `home/server`), or, when the
    postgres user cannot reach `home` at all (a checkout under /root, say), a folder under
    /var/lib/gridgis named after `home`. A cluster created before this split (its data in
    `home/pgdata`) stays where it is.
    """

    home: Path

    @property
    def server(self) -> Path:
        if not _is_root() or (self.home / "pgdata" / "PG_VERSION").exists():
            return self.home
        if _reachable_by_others(self.home):
            return self.home / "server"
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
        return Path("/var/lib/gridgis/clusters") / digest

    @property
    def data(self) -> Path:
        return self.server / "pgdata"

    @property
    def log(self) -> Path:
        return self.server / "postgresql.log"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def app_password_file(self) -> Path:
        return self.home / "app-password"


def _reachable_by_others(path: Path) -> bool:
    """True when every existing parent of `path` lets other users through (o+x)."""
    return all(parent.stat().st_mode & 0o001 for parent in path.parents if parent.exists())


@dataclass(frozen=True)
class ClusterStatus:
    """What `gridgis db status` reports."""

    initialised: bool
    running: bool
    port: int
    data_dir: Path
    bin_dir: Path | None
    postgis_available: bool


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.name.split(".") if part.isdigit())


def find_postgres_bin() -> Path:
    """Locate the newest system PostgreSQL whose share folder has the PostGIS extension."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version_key(p.parent)
    )
    for bin_dir in reversed(candidates):
        version = bin_dir.parent.name
        if (bin_dir / "initdb").exists() and _postgis_installed(version):
            return bin_dir
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise EmbeddedClusterError(
        "No PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH). "
        "Install them with: apt-get install postgresql postgis"
    )


def _postgis_installed(version: str) -> bool:
    return Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()


def _is_root() -> bool:
    return os.geteuid() == 0


def _run_as_service_user(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a server command; as root, PostgreSQL refuses to run, so drop to the postgres OS user."""
    if _is_root():
        args = ["runuser", "-u", SERVICE_OS_USER, "--", *args]
        # The server tools refuse to run from a folder their user cannot enter.
        kwargs.setdefault("cwd", "/")
    return subprocess.run(args, text=True, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]


def _prepare_home(paths: ClusterPaths) -> None:
    paths.home.mkdir(parents=True, exist_ok=True)
    if not _is_root():
        paths.home.chmod(0o700)
        return
    if paths.server == paths.home:  # a cluster from before the split: the server owns home
        paths.home.chmod(0o755)
    else:
        # root's, and closed to the server's account but for passing through to its folder.
        os.chown(paths.home, 0, 0, follow_symlinks=False)
        paths.home.chmod(0o711 if paths.server.parent == paths.home else 0o700)
    try:
        service = pwd.getpwnam(SERVICE_OS_USER)
    except KeyError as exc:
        raise EmbeddedClusterError(
            f"Running as root needs the '{SERVICE_OS_USER}' OS user to own the cluster; "
            "it comes with the postgresql package (apt-get install postgresql)."
        ) from exc
    paths.server.mkdir(parents=True, exist_ok=True)
    os.chown(paths.server, service.pw_uid, service.pw_gid, follow_symlinks=False)
    if paths.server != paths.home:
        paths.server.chmod(0o700)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedCluster:
    """Create, start, stop and describe the private cluster that serves gridgis by default."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = ClusterPaths(settings.home.resolve())
        self.port = settings.embedded_port

    # -- state ---------------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.paths.data / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.initialised:
            return False
        try:
            bin_dir = find_postgres_bin()
        except EmbeddedClusterError:
            return False
        result = _run_as_service_user(
            [str(bin_dir / "pg_ctl"), "status", "-D", str(self.paths.data)]
        )
        return result.returncode == 0

    def status(self) -> ClusterStatus:
        try:
            bin_dir: Path | None = find_postgres_bin()
        except EmbeddedClusterError:
            bin_dir = None
        return ClusterStatus(
            initialised=self.initialised,
            running=self.is_running(),
            port=self.port,
            data_dir=self.paths.data,
            bin_dir=bin_dir,
            postgis_available=bin_dir is not None and _postgis_installed(bin_dir.parent.name),
        )

    def password(self) -> str:
        if not self.paths.password_file.exists():
            raise EmbeddedClusterError(
                f"The embedded cluster has no credentials at {self.paths.password_file}; "
                "run `gridgis db start` first."
            )
        return read_private(self.paths.password_file).strip()

    def has_app_role(self) -> bool:
        """True once `ensure_app_role` has made the API's role (its password is kept)."""
        return self.paths.app_password_file.is_file()

    def app_url(self, database: str | None = None) -> str:
        """SQLAlchemy URL of the API's least-privilege role (gridgis/db/roles.py)."""
        name = database or self.settings.embedded_database
        password = read_private(self.paths.app_password_file).strip()
        return (
            f"postgresql+psycopg://{self.settings.app_role}:{quote(password, safe='')}"
            f"@127.0.0.1:{self.port}/{name}"
        )

    def ensure_app_role(self, database: str | None = None) -> None:
        """Create the API's role (or reset it) and grant it its privileges in the database.
        The cluster's superuser remains the owner: migrations, demo loads, imports' setup."""
        from sqlalchemy import create_engine

        from gridgis.db.roles import ensure_app_role, grant_app_privileges

        if self.has_app_role():
            password = read_private(self.paths.app_password_file).strip()
        else:
            password = secrets.token_urlsafe(24)
            write_private(self.paths.app_password_file, password + "\n")
        engine = create_engine(self.url(database))
        try:
            with engine.begin() as conn:
                ensure_app_role(conn, self.settings.app_role, password)
                grant_app_privileges(conn, self.settings.app_role)
        finally:
            engine.dispose()

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL of a database in the embedded cluster."""
        name = database or self.settings.embedded_database
        return (
            f"postgresql+psycopg://{SUPERUSER}:{quote(self.password(), safe='')}"
            f"@127.0.0.1:{self.port}/{name}"
        )

    # -- lifecycle -----------------------------------------------------------------------------
    def init(self) -> bool:
        """Run initdb once; returns True when a new cluster was created."""
        if self.initialised:
            return False
        bin_dir = find_postgres_bin()
        if not _postgis_installed(bin_dir.parent.name):
            raise EmbeddedClusterError(
                f"PostgreSQL {bin_dir.parent.name} has no PostGIS extension; "
                f"apt-get install postgresql-{bin_dir.parent.name}-postgis-3"
            )
        _prepare_home(self.paths)
        password = secrets.token_urlsafe(24)
        write_private(self.paths.password_file, password + "\n")
        # initdb reads the password from a file the service user can read; remove it afterwards.
        pwfile = self.paths.server / ".initdb-pw"
        write_private(pwfile, password + "\n")  # the folder may be the server account's
        if _is_root():
            service = pwd.getpwnam(SERVICE_OS_USER)
            os.chown(pwfile, service.pw_uid, service.pw_gid, follow_symlinks=False)
        try:
            result = _run_as_service_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.paths.data),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise EmbeddedClusterError(f"initdb failed:\n{result.stderr.strip()}")
        return True

    def start(self, timeout_s: float = 60.0) -> bool:
        """Start the server (initialising it first if needed); returns True if it was started."""
        self.init()
        if self.is_running():
            return False
        if _port_in_use(self.port):
            raise EmbeddedClusterError(
                f"Port {self.port} on 127.0.0.1 is taken by another program; "
                "set GRIDGIS_EMBEDDED_PORT to a free port."
            )
        bin_dir = find_postgres_bin()
        if _is_root() and self.paths.log.exists():
            service = pwd.getpwnam(SERVICE_OS_USER)
            # Never through a link the server's account may have put there.
            os.chown(self.paths.log, service.pw_uid, service.pw_gid, follow_symlinks=False)
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c max_connections=200 -c shared_buffers=512MB -c fsync=on"
        )
        result = _run_as_service_user(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(self.paths.data),
                "-l",
                str(self.paths.log),
                "-w",
                "-t",
                str(int(timeout_s)),
                "-o",
                options,
            ]
        )
        if result.returncode != 0:
            tail = (
                self.paths.log.read_text(errors="replace")[-2000:]
                if self.paths.log.exists()
                else ""
            )
            raise EmbeddedClusterError(f"pg_ctl start failed: {result.stderr.strip()}\n{tail}")
        self._wait_until_ready(timeout_s)
        return True

    def _wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self._conninfo("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.2)
        raise EmbeddedClusterError(f"The embedded cluster did not accept connections: {last}")

    def stop(self) -> bool:
        """Stop the server; returns True when it was running."""
        if not self.is_running():
            return False
        bin_dir = find_postgres_bin()
        result = _run_as_service_user(
            [str(bin_dir / "pg_ctl"), "stop", "-D", str(self.paths.data), "-m", "fast", "-w"]
        )
        if result.returncode != 0:
            raise EmbeddedClusterError(f"pg_ctl stop failed: {result.stderr.strip()}")
        return True

    # -- databases -----------------------------------------------------------------------------
    def _conninfo(self, database: str) -> str:
        return (
            f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database} "
            f"password={self.password()}"
        )

    def ensure_database(self, database: str | None = None) -> bool:
        """Create the database (with PostGIS) if missing; returns True when it was created."""
        name = database or self.settings.embedded_database
        return ensure_database(self._conninfo("postgres"), name)


def ensure_database(admin_conninfo: str, name: str, *, drop_first: bool = False) -> bool:
    """Create database `name` with the PostGIS extension on the server behind admin_conninfo."""
    created = False
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        if drop_first:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8'").format(sql.Identifier(name)))
            created = True
    target = psycopg.conninfo.make_conninfo(admin_conninfo, dbname=name)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return created
