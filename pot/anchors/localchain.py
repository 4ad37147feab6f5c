"""The local chain: pot's embedded default anchor and its fallback when no blockchain is reachable.

One append-only JSON-lines file per store. Each line is a signed entry that names a tree head (model, size,
root, head hash) and carries the hash of the entry before it, so the file is a hash chain across every model
recorded in the store. It orders heads and makes silent edits to the file visible, but it is signed by the same
key as the heads: a locally anchored head proves only what that key says. Its receipts have strength
``"local"``; only a chain anchor bounds when a record existed independently of the signer.

Several processes may append at once: each append holds an exclusive ``flock`` on the file.

Frozen by proof format v1 (docs/PROOF_FORMAT.md, "Local chain entries").
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pot.anchors.base import AnchorReceipt, Strength, register_backend
from pot.errors import AnchorReceiptError, AnchorUnavailable, FormatError, PotError
from pot.log.canonical import DOMAIN_LOCAL_CHAIN_ENTRY, HexDigest, object_hash
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import PublicKey, SigningKey
from pot.log.records import check_count, check_hex64, check_name, check_timestamp, format_timestamp

_ENTRY_FIELDS = ("index", "prev_entry", "model_id", "tree_size", "root_hash", "head_hash", "timestamp", "key_id")
_TAIL_BLOCK = 4096


def entry_hash(entry: Mapping[str, Any]) -> HexDigest:
    return object_hash(DOMAIN_LOCAL_CHAIN_ENTRY, entry)


def check_entry(entry: Any) -> dict[str, Any]:
    """Shape-check one entry object (not its signature)."""
    if not isinstance(entry, Mapping) or set(entry) != set(_ENTRY_FIELDS):
        raise FormatError(f"a local chain entry must have exactly the fields {list(_ENTRY_FIELDS)}")
    prev = entry["prev_entry"]
    return {
        "index": check_count(entry["index"], "index"),
        "prev_entry": None if prev is None else check_hex64(prev, "prev_entry"),
        "model_id": check_name(entry["model_id"], "model_id"),
        "tree_size": check_count(entry["tree_size"], "tree_size"),
        "root_hash": check_hex64(entry["root_hash"], "root_hash"),
        "head_hash": check_hex64(entry["head_hash"], "head_hash"),
        "timestamp": check_timestamp(entry["timestamp"], "timestamp"),
        "key_id": check_hex64(entry["key_id"], "key_id"),
    }


def _parse_line(raw: bytes) -> Iterator[dict[str, Any]]:
    try:
        line = json.loads(raw)
    except ValueError:
        return  # a torn final line
    if isinstance(line, dict) and isinstance(line.get("entry"), dict):
        yield line


class LocalChain:
    """The chain file itself: append under a lock, read back, check end to end."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read_tail(self, fd: int) -> tuple[bytes, int]:
        """The last complete line and the file length up to its end (a torn final line is not counted)."""
        end = os.lseek(fd, 0, os.SEEK_END)
        buf = b""
        pos = end
        while pos > 0:
            step = min(_TAIL_BLOCK, pos)
            pos -= step
            buf = os.pread(fd, step, pos) + buf
            lines = buf.split(b"\n")
            # lines[-1] is what follows the last newline: empty if the file ends cleanly, else a torn write
            complete = lines[:-1]
            if len(complete) >= 2 or (complete and pos == 0):
                good_end = end - len(lines[-1])
                return complete[-1], good_end
        return b"", 0

    def append(self, head: TreeHead, key: SigningKey, now: datetime | None = None) -> dict[str, Any]:
        """Append an entry for ``head`` and return ``{"entry": ..., "entry_signature": ...}``."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise AnchorUnavailable(f"cannot open local chain {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last, good_end = self._read_tail(fd)
            if good_end != os.lseek(fd, 0, os.SEEK_END):
                # A writer died mid-line. That line was never acknowledged to anyone; drop it.
                os.ftruncate(fd, good_end)
            if last:
                previous = json.loads(last)["entry"]
                index, prev = previous["index"] + 1, entry_hash(previous)
            else:
                index, prev = 0, None
            entry = {
                "index": index, "prev_entry": prev, "model_id": head.model_id, "tree_size": head.tree_size,
                "root_hash": head.root_hash, "head_hash": head.head_hash,
                "timestamp": format_timestamp(now or datetime.now(UTC)), "key_id": key.key_id,
            }
            line = {"entry": entry, "signature": key.sign(DOMAIN_LOCAL_CHAIN_ENTRY, entry)}
            data = json.dumps(line, separators=(",", ":")).encode() + b"\n"
            os.write(fd, data)
            os.fsync(fd)
        except OSError as exc:
            raise AnchorUnavailable(f"cannot append to local chain {self.path}: {exc.strerror}") from exc
        finally:
            os.close(fd)
        return {"entry": entry, "entry_signature": line["signature"]}

    def find(self, head: TreeHead) -> dict[str, Any] | None:
        """The entry for ``head`` if one was appended (say, just before a crash), searching back from the end.

        Entries are appended in time order, so the search stops at the first entry older than the head.
        """
        for line in self._lines_backwards():
            entry = line["entry"]
            if entry["head_hash"] == head.head_hash:
                return {"entry": entry, "entry_signature": line["signature"]}
            if entry["timestamp"] < head.timestamp:
                return None
        return None

    def _lines_backwards(self) -> Iterator[dict[str, Any]]:
        """Parsed lines from the end of the file towards its start, read in blocks (usually just one)."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            pos = handle.seek(0, os.SEEK_END)
            rest = b""
            while pos > 0:
                step = min(_TAIL_BLOCK, pos)
                pos -= step
                handle.seek(pos)
                lines = (handle.read(step) + rest).split(b"\n")
                rest = lines[0]  # may be cut by the block boundary: keep it for the next block
                for raw in reversed(lines[1:]):
                    if raw:
                        yield from _parse_line(raw)
            if rest:
                yield from _parse_line(rest)

    def entries(self) -> Iterator[tuple[dict[str, Any], str]]:
        """Every (entry, signature) in order, shape-checked. Raises FormatError on a malformed line."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            for number, raw in enumerate(handle, 1):
                if not raw.endswith(b"\n"):
                    break  # torn final line, never acknowledged
                try:
                    line = json.loads(raw)
                    entry = check_entry(line["entry"])
                    signature = line["signature"]
                except (ValueError, KeyError, TypeError, FormatError) as exc:
                    raise FormatError(f"{self.path}:{number}: not a local chain entry ({exc})") from exc
                yield entry, signature

    def verify(self, key: PublicKey) -> int:
        """Check the whole file: indexes count up, each entry names its predecessor's hash, every signature holds.

        Returns the number of entries. Raises :class:`pot.errors.AnchorReceiptError` at the first break.
        """
        prev: str | None = None
        count = 0
        for entry, signature in self.entries():
            if entry["index"] != count:
                raise AnchorReceiptError(f"local chain entry {count} has index {entry['index']}")
            if entry["prev_entry"] != prev:
                raise AnchorReceiptError(f"local chain entry {count} does not link to entry {count - 1}")
            if not key.verify(DOMAIN_LOCAL_CHAIN_ENTRY, entry, signature):
                raise AnchorReceiptError(f"local chain entry {count}: signature does not verify")
            prev = entry_hash(entry)
            count += 1
        return count


class LocalChainAnchor:
    """Anchor backend writing to a :class:`LocalChain`."""

    backend: ClassVar[str] = "localchain"
    strength: ClassVar[Strength] = "local"

    def __init__(self, path: Path, key: SigningKey, clock: Callable[[], datetime] | None = None) -> None:
        self.chain = LocalChain(path)
        self._key = key
        self._clock = clock or (lambda: datetime.now(UTC))

    def anchor(self, head: SignedTreeHead) -> dict[str, Any]:
        existing = self.chain.find(head.head)
        if existing is not None:
            return existing
        return self.chain.append(head.head, self._key, self._clock())


def check_receipt(receipt: AnchorReceipt, head: TreeHead, signer: PublicKey) -> None:
    """Offline check of a local chain receipt: the entry names this head and is signed by the signer."""
    try:
        details = receipt.details
        if set(details) != {"entry", "entry_signature"}:
            raise FormatError("details must be exactly {entry, entry_signature}")
        entry = check_entry(details["entry"])
    except PotError as exc:
        raise AnchorReceiptError(f"local chain receipt for head {head.tree_size}: {exc}") from exc
    for name in ("model_id", "tree_size", "root_hash", "head_hash"):
        expected = head.head_hash if name == "head_hash" else getattr(head, name)
        if entry[name] != expected:
            raise AnchorReceiptError(f"local chain receipt for head {head.tree_size}: entry {name} does not match "
                                     "the head")
    if entry["key_id"] != signer.key_id:
        raise AnchorReceiptError(f"local chain receipt for head {head.tree_size}: entry signed by another key")
    if not signer.verify(DOMAIN_LOCAL_CHAIN_ENTRY, entry, str(details["entry_signature"])):
        raise AnchorReceiptError(f"local chain receipt for head {head.tree_size}: entry signature does not verify")


register_backend(LocalChainAnchor.backend, LocalChainAnchor.strength, check_receipt)
