"""A throwaway PostgreSQL cluster on loopback for tests (Debian's package, installed if absent).

PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres`
system user that the Debian package creates.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from localrun.ports import free_port

logger = logging.getLogger(__name__)


class PostgresUnavailable(RuntimeError):
    pass


def postgres_bin_dir() -> Path:
    """The newest installed server's bin folder, installing Debian's package when missing."""
    found = _installed_bin_dir()
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            "PostgreSQL server not installed: run `apt-get install postgresql` (needs root)"
        )
    logger.info("installing PostgreSQL from Debian packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
    ):
        subprocess.run(command, check=True, env=env, capture_output=True)
    found = _installed_bin_dir()
    if found is None:
        raise PostgresUnavailable("apt-get installed postgresql but no server binaries were found")
    return found


def _installed_bin_dir() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class LocalPostgres:
    """initdb + pg_ctl in a temporary folder; trust auth on 127.0.0.1 (test-only cluster).

    A test's cluster writes nothing to disk it need not (`fsync=off`). `durable` keeps fsync
    and full-page writes, as a benchmark beside SQLite needs: commits are then as safe as
    SQLite's WAL with `synchronous=NORMAL` (a crash loses the last commits, never the
    database), which `synchronous_commit=off` is in both modes."""

    def __init__(self, base_dir: Path, port: int | None = None, *, durable: bool = False) -> None:
        self.base_dir = Path(base_dir)
        self.port = port or free_port()
        self.durable = durable
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "socket"
        self._bin: Path | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        self._bin = postgres_bin_dir()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._give_to_server_user(self.base_dir, self.socket_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8"
            )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.socket_dir} "
            "-c synchronous_commit=off -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.base_dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout_s)),
            "start",
        )
        self._wait_until_ready(timeout_s)

    def stop(self) -> None:
        if self._bin is not None and (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    @property
    def pid(self) -> int | None:
        """The postmaster's process id (its backends are its children), while it runs."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, PermissionError, IndexError, ValueError):
            return None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop `name` and end its sessions: a test's engine left in its pool holds them until
        collected, and a suite's worth of those would use up `max_connections`."""
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def _wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self._dsn("postgres"), connect_timeout=2) as connection:
                    connection.execute("select 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _run(self, tool: str, *args: str) -> None:
        assert self._bin is not None
        command = [str(self._bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{tool} failed:\n{result.stdout}{result.stderr}")

    @staticmethod
    def _give_to_server_user(*paths: Path) -> None:
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam("postgres")
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)
        # The temp folders above ours must be traversable by the server user.
        for parent in paths[0].parents:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
