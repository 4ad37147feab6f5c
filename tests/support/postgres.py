"""A real PostgreSQL server for tests: Debian's binaries, a cluster in a temporary directory, a free port.

``initdb`` and ``postgres`` refuse to run as root, so under root they run as the ``postgres`` user (which Debian's
package creates) in a directory that user owns. The server process is our own child (``subprocess.Popen`` with
``user=``), so it is stopped by its pid: SIGINT is PostgreSQL's fast shutdown (sessions are ended, a checkpoint is
written, then it exits). Connections need a password (scram-sha-256), so the tests see the same authentication a
team server would, and can check that the password never shows in pot's output.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SKIP_ENV = "POT_SKIP_POSTGRES"  # "1": skip the PostgreSQL tests (only ever on explicit request)


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One cluster: ``start()``, ``stop()`` (by pid), ``restart()``, ``create_database()``; a context manager."""

    def __init__(self, *, fsync: bool = False) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                               "apt-get install postgresql, or run scripts/test.sh, which installs it")
        self.bin = binaries
        self.user = "postgres"
        self.password = "pw-" + secrets.token_hex(8)
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pot-postgres-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        self.process: subprocess.Popen[bytes] | None = None
        self._databases = 0
        self.fsync = fsync
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "-E", "UTF8",
                        "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-sync", "--no-instructions"],
                       check=True, capture_output=True, cwd=self.dir, **self._as)
        pwfile.unlink()

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        return (f"postgresql://{self.user}:{self.password if password is None else password}@127.0.0.1:{self.port}"
                f"/{database}")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self, timeout: float = 60.0) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        log = self.log.open("ab")
        # fsync off for tests: these clusters live as long as a test session, and a power cut is not among the
        # faults tested (a restart is: a fast shutdown writes a checkpoint whatever fsync says). Benchmarks keep it.
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.dir),
             "-c", "listen_addresses=127.0.0.1", "-c", f"fsync={'on' if self.fsync else 'off'}",
             "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir, **self._as)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            if self._accepts():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"postgres did not accept connections in {timeout} s")
            time.sleep(0.05)

    def _accepts(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url(), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown by pid (SIGINT), then wait for the process; SIGKILL only if it does not exit in time."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        self._databases += 1
        name = f"pot_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # a fresh name per call, made here: nothing to quote
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

