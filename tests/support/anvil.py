"""A real local Ethereum node for tests and benchmarks: anvil from the pinned npm package.

    with Anvil() as node:                        # or Anvil(chain_id=137) to look like Polygon
        Web3(Web3.HTTPProvider(node.url)) ...

The binary is started directly (never through npx or its node wrapper) with ``--port 0``, so parallel runs never
fight over a port; the port is read from anvil's "Listening on" banner line. A daemon thread keeps reading anvil's
output for as long as it runs, because anvil logs every RPC call and a full pipe would freeze it. It is stopped
with SIGTERM by pid, then SIGKILL; a failed start stops it too, and so does interpreter exit (``atexit``) or, on
Linux, the death of the process that started it.

The accounts are anvil's defaults, derived from the public test mnemonic "test test ... junk". Their keys are
published in anvil's banner and in Foundry's documentation: they hold nothing outside a dev chain.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
ANVIL_BINARY = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
CAST_BINARY = ROOT / "node_modules" / "@foundry-rs" / "cast-linux-amd64" / "bin" / "cast"

# (address, private key) of anvil's ten default accounts: public test keys, printed by anvil itself.
DEV_ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
     "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
    ("0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
     "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
    ("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
     "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"),
    ("0x90F79bf6EB2c4f870365E785982E1f101E93b906",
     "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"),
    ("0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
     "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"),
    ("0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
     "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"),
    ("0x976EA74026E726554dB657fA54763abd0C3a0aa9",
     "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"),
    ("0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
     "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"),
    ("0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
     "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"),
    ("0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
     "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"),
)

_LISTENING = re.compile(r"Listening on (?P<host>[0-9.]+):(?P<port>\d+)")
_live: weakref.WeakSet[Anvil] = weakref.WeakSet()


class AnvilError(RuntimeError):
    """anvil could not be started, or did not answer in time."""


def anvil_available() -> bool:
    return ANVIL_BINARY.is_file() and os.access(ANVIL_BINARY, os.X_OK)


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM anvil if the test process dies without cleaning up."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Anvil:
    """One running anvil. Starts in the constructor; ``stop()`` (or leaving the ``with`` block) ends it."""

    def __init__(
        self,
        *,
        chain_id: int | None = None,
        block_time: float | None = None,
        extra_args: tuple[str, ...] = (),
        binary: Path = ANVIL_BINARY,
        startup_timeout: float = 20.0,
    ) -> None:
        if not binary.is_file():
            raise AnvilError(f"no anvil binary at {binary}: run `npm install --ignore-scripts` in {ROOT}")
        args = [str(binary), "--host", "127.0.0.1", "--port", "0"]
        if chain_id is not None:
            args += ["--chain-id", str(chain_id)]
        if block_time is not None:
            args += ["--block-time", f"{block_time:g}"]
        args += list(extra_args)
        self.accounts: list[str] = [address for address, _ in DEV_ACCOUNTS]
        self.private_keys: list[str] = [key for _, key in DEV_ACCOUNTS]
        self.url = ""
        self.port = 0
        self.chain_id = 0
        self._output: collections.deque[str] = collections.deque(maxlen=200)
        self._listening = threading.Event()
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        self.pid = self._process.pid
        _live.add(self)
        assert self._process.stdout is not None
        self._reader = threading.Thread(target=self._drain, args=(self._process.stdout,),
                                        name=f"anvil-{self.pid}-stdout", daemon=True)
        self._reader.start()
        try:
            self._wait_until_ready(startup_timeout)
        except BaseException:
            self.stop()
            raise

    # --- life cycle -------------------------------------------------------------------------------------------

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            self._output.append(line)
            if not self._listening.is_set():
                match = _LISTENING.search(line)
                if match:
                    self.port = int(match["port"])
                    self.url = f"http://{match['host']}:{self.port}"
                    self._listening.set()
        self._listening.set()  # anvil exited: wake the starter so it can report why

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self._listening.wait(timeout) or not self.url:
            raise AnvilError(f"anvil did not start listening within {timeout:.0f} s: {self.recent_output()}")
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AnvilError(f"anvil exited with {self._process.returncode}: {self.recent_output()}")
            try:
                self.chain_id = int(self.rpc("eth_chainId"), 16)
                return
            except (OSError, ValueError, KeyError) as exc:
                last_error = str(exc)
                time.sleep(0.05)
        raise AnvilError(f"anvil at {self.url} did not answer eth_chainId within {timeout:.0f} s: {last_error}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by pid, SIGKILL after ``timeout`` seconds; idempotent."""
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait()
        self._reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        _live.discard(self)

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Anvil(pid={self.pid}, url={self.url!r}, chain_id={self.chain_id}, {state})"

    # --- helpers ----------------------------------------------------------------------------------------------

    def recent_output(self, lines: int = 20) -> str:
        return " | ".join(list(self._output)[-lines:]) or "(no output)"

    def rpc(self, method: str, *params: object, timeout: float = 5.0) -> object:
        """One raw JSON-RPC call (no web3 needed): the result, or ValueError with the node's error."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            reply = json.loads(answer.read())
        if "error" in reply:
            raise ValueError(f"{method}: {reply['error']}")
        return reply["result"]

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))


@atexit.register
def _stop_all() -> None:
    for node in list(_live):
        node.stop(timeout=3)
