"""A real ``pot serve`` for tests and benchmarks: uvicorn in a subprocess on a free port (or a given one, to come
back where clients expect it), stopped by its pid: SIGINT for a clean stop, SIGKILL for a crash.

``start(cli, log, *flags)`` is the plain form: ``pot <cli> serve`` once on a free port, answering, with ``get`` and
``post`` over httpx (the server unit tests and the web UI's tests use it).

``prepare(root, database)`` makes the store and key (``pot init``) and a write token (``pot token create``) with the
real CLI, in subprocesses, so nothing of the test process's state leaks into the server's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])



@dataclass
class Started:
    """A ``pot serve`` that :func:`start` started: its URL, its process and the file its output goes to."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        import httpx

        return httpx.get(self.url + path, headers=_auth(token), timeout=30, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        import httpx

        return httpx.post(self.url + path, headers={**_auth(token), **kwargs.pop("headers", {})}, timeout=30,
                          **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def start(cli: list[str], log: Path, *flags: str, port: int | None = None) -> Started:
    """``pot <cli> serve --port PORT FLAGS`` (a free port unless given), once it answers ``GET /v1/key``; its output
    goes to ``log``. An AssertionError with that output if it exits or does not answer within 60 s."""
    import httpx

    port = port or free_port()
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "pot", *cli, "serve", "--port", str(port), *flags],
                                   stdout=out, stderr=subprocess.STDOUT, env=clean_env())
    started = Started(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"pot serve exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(started.url + "/v1/key", timeout=2).status_code in (200, 401):
                return started
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            started.stop()
            raise AssertionError(f"pot serve did not answer in 60 s: {log.read_text()}")
        time.sleep(0.1)

def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any POT_ variable of the caller's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
    env.update(extra)
    return env


def store_flags(root: Path, database: str | None) -> list[str]:
    return ["--store", str(root), *(["--database", database] if database else [])]


def prepare(root: Path, database: str | None = None, *, scope: str = "") -> str:
    """``pot init`` the store and return a new write token for models under ``scope``."""
    flags = store_flags(root, database)
    subprocess.run([sys.executable, "-m", "pot", *flags, "init"], check=True, capture_output=True, env=clean_env())
    made = subprocess.run([sys.executable, "-m", "pot", *flags, "token", "create", "--scope", scope, "--write"],
                          check=True, capture_output=True, env=clean_env(), text=True)
    return made.stdout.strip()


@dataclass
class Served:
    """One ``pot serve`` process; ``start()`` again after ``stop()``/``kill()`` comes back on the same port."""

    root: Path
    database: str | None = None
    port: int = field(default_factory=free_port)
    flags: tuple[str, ...] = ("--rate", "100000", "--burst", "100000")
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root.parent / f"serve-{self.port}.log"

    def start(self, timeout: float = 60.0) -> Served:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pot", *store_flags(self.root, self.database), "serve", "--port",
                 str(self.port), *self.flags], stdout=out, stderr=subprocess.STDOUT, env=clean_env())
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None:
                raise AssertionError(f"pot serve exited with {self.process.returncode}: {self.log.read_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"pot serve did not answer in {timeout} s: {self.log.read_text()}")
            time.sleep(0.05)
        return self

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/v1/key", timeout=2) as answer:
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        """A clean stop (SIGINT), by pid."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """A crash (SIGKILL), by pid: no answer goes out for what is in flight."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def get_json(self, path: str) -> object:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return json.loads(answer.read())

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def log_records(server: Served, model_id: str) -> list[dict[str, object]]:
    """Every record of ``model_id``'s log on ``server``, in log order (GET .../log, page by page)."""
    out: list[dict[str, object]] = []
    start: int | None = 0
    while start is not None:
        page = server.get_json(f"/v1/models/{model_id}/log?start={start}&limit=1000")
        assert isinstance(page, dict)
        out += page["records"]
        start = page["next"]
    return out
