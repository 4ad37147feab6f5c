"""The local chain: pot's embedded default anchor and its fallback when no blockchain is reachable.

One append-only JSON-lines file per store. Each line is a signed entry that names a tree head (model, size,
root, head hash) and carries the hash of the entry before it, so the file is a hash chain across every model
recorded in the store. It orders heads and makes silent edits to the file visible, but it is signed by the same
key as the heads: a locally anchored head proves only what that key says. Its receipts have strength
``"local"``; only a chain anchor bounds when a record existed independently of the signer.

What the file refuses, and why:

- **Equivocation.** Two different heads for one model and tree size mean the model's log was rewritten after it
  was anchored (a store edited and re-signed). :meth:`LocalChain.append` refuses to add the second head, and
  :meth:`LocalChain.audit` (``pot test``, ``pot verify --local-chain``) fails on a file that holds two.
- **Truncation.** The store remembers the last entry it saw appended (its *tip*, see
  :meth:`pot.log.store.Store.local_chain_tip`); a file that no longer holds that entry was deleted, emptied,
  truncated or replaced, and appending would silently start a new chain. A file longer than the tip is fine (a
  crash between the append and the store's update, or another store's writer).
- **Damage.** A line that is not an entry, or an entry out of place, stops appends until the file is repaired:
  appending after it would extend a chain that no longer verifies. Append raises an :class:`AnchorError` naming
  the line; the recorder keeps the record and its signed head, and ``pot test`` names the problem.

Several processes may append at once: each append holds an exclusive ``flock`` on the file, and does every check
above and its write under it.

Frozen by proof format v1 (docs/PROOF_FORMAT.md, "Local chain entries").
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pot._internal import strictjson
from pot.anchors.base import AnchorReceipt, Strength, register_backend
from pot.errors import AnchorMismatch, AnchorReceiptError, AnchorUnavailable, FormatError, PotError
from pot.log.canonical import DOMAIN_LOCAL_CHAIN_ENTRY, HexDigest, object_hash
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import PublicKey, SigningKey
from pot.log.records import (
    check_count,
    check_hex64,
    check_name,
    check_positive,
    check_timestamp,
    format_timestamp,
)

_ENTRY_FIELDS = ("index", "prev_entry", "model_id", "tree_size", "root_hash", "head_hash", "timestamp", "key_id")
_ENTRY_KEYS = frozenset(_ENTRY_FIELDS)
_LINE_FIELDS = {"entry", "signature"}
_READ_BLOCK = 1 << 20
_MAX_LINE = 1 << 16  # an entry line is about 600 bytes; anything near this is not one


def entry_hash(entry: Mapping[str, Any]) -> HexDigest:
    return object_hash(DOMAIN_LOCAL_CHAIN_ENTRY, entry)


def check_entry(entry: Any) -> dict[str, Any]:
    """Shape-check one entry object (not its signature)."""
    if not isinstance(entry, Mapping) or set(entry) != set(_ENTRY_FIELDS):
        raise FormatError(f"a local chain entry must have exactly the fields {list(_ENTRY_FIELDS)}")
    prev = entry["prev_entry"]
    if (prev is None) != (entry["index"] == 0):
        raise FormatError("a local chain entry has a prev_entry exactly when its index is not 0")
    return {
        "index": check_count(entry["index"], "index"),
        "prev_entry": None if prev is None else check_hex64(prev, "prev_entry"),
        "model_id": check_name(entry["model_id"], "model_id"),
        "tree_size": check_positive(entry["tree_size"], "tree_size"),
        "root_hash": check_hex64(entry["root_hash"], "root_hash"),
        "head_hash": check_hex64(entry["head_hash"], "head_hash"),
        "timestamp": check_timestamp(entry["timestamp"], "timestamp"),
        "key_id": check_hex64(entry["key_id"], "key_id"),
    }


def parse_line(raw: bytes, number: int) -> tuple[dict[str, Any], str]:
    """One line of the file (without its newline) as (entry, signature), shape-checked.

    Raises :class:`FormatError` naming the line (1-based, as an editor counts) and what is wrong with it.
    """
    if len(raw) > _MAX_LINE:
        raise FormatError(f"line {number} is {len(raw)} bytes long, not a local chain entry")
    try:
        line = strictjson.loads(raw, f"line {number}")
    except FormatError as exc:
        # One line is one JSON document: its "line 1" is this line.
        message = str(exc).replace(" (line 1, column ", " (column ")
        raise FormatError(message if raw.strip() else f"line {number} is empty") from None
    if not isinstance(line, dict) or set(line) != _LINE_FIELDS or not isinstance(line["signature"], str):
        raise FormatError(f"line {number} is JSON but not a local chain entry (a line is "
                          '{"entry": {...}, "signature": "..."} and nothing else)')
    try:
        entry = check_entry(line["entry"])
    except FormatError as exc:
        raise FormatError(f"line {number} is JSON but not a local chain entry: {exc}") from None
    return entry, line["signature"]


@dataclass(frozen=True, slots=True)
class Tip:
    """An entry a store saw appended: the file must go on holding it at ``index``."""

    index: int
    entry_hash: str


class TipKeeper(Protocol):
    """Where the tip is remembered: the store (:class:`pot.log.store.Store` implements this)."""

    def local_chain_tip(self) -> tuple[int, str] | None: ...

    def advance_local_chain_tip(self, index: int, entry_hash: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AnchoredHead:
    """The first entry of the file for one (model, tree size)."""

    index: int
    head_hash: str
    root_hash: str


@dataclass(frozen=True, slots=True)
class ChainAudit:
    """What :meth:`LocalChain.audit` found in a file that passed every check."""

    count: int
    heads: dict[tuple[str, int], AnchoredHead]  # one head per (model id, tree size): the audit refused two
    entry_hashes: list[str]  # by index
    torn_tail: bool  # an incomplete last line (a writer died mid-line); the next append drops it

    def holds(self, entry: Mapping[str, Any]) -> bool:
        """Is ``entry`` (from a receipt, say) the entry at its index in the file?"""
        index = entry.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.count:
            return False
        try:
            return self.entry_hashes[index] == entry_hash(check_entry(entry))
        except PotError:
            return False


@dataclass(slots=True)
class _Index:
    """What an append needs to know of the file, kept between appends so that each reads only the new lines.

    Valid while the file is the same inode, at least ``end`` long, and its last indexed line is unchanged;
    otherwise it is rebuilt from the start.
    """

    ident: tuple[int, int]
    end: int = 0  # just past the last complete line indexed
    starts: array[int] = field(default_factory=lambda: array("q"))  # offset of each entry's line
    last_line: bytes = b""
    last_entry: dict[str, Any] | None = None
    heads: dict[tuple[str, int], AnchoredHead] = field(default_factory=dict)


class LocalChain:
    """The chain file itself: append under a lock, read back, check end to end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._index: _Index | None = None
        # The flock orders processes; this orders the threads of one process around the index they share.
        self._guard = threading.Lock()

    # --- appending ----------------------------------------------------------------------------------------------

    def append(self, head: TreeHead, key: SigningKey, now: datetime | None = None, *, expect: Tip | None = None
               ) -> dict[str, Any]:
        """Append an entry for ``head`` and return ``{"entry": ..., "entry_signature": ...}``.

        Idempotent: when the file already holds ``head``, its entry is returned and nothing is written. Under the
        file's lock, before writing, it checks that the file still holds ``expect`` (the tip its store remembers)
        and holds no other head of ``head``'s model and size. Raises :class:`pot.errors.AnchorMismatch` for a
        missing tip or an equivocation, :class:`pot.errors.AnchorUnavailable` for a damaged or unwritable file.
        """
        with self._guard:
            return self._append(head, key, now, expect)

    def _append(self, head: TreeHead, key: SigningKey, now: datetime | None, expect: Tip | None
                ) -> dict[str, Any]:
        # With a tip to keep, a missing file is a lost chain: recreating it would start a new one at index 0.
        flags = os.O_RDWR | os.O_APPEND | (0 if expect is not None else os.O_CREAT)
        try:
            fd = os.open(self.path, flags, 0o644)
        except FileNotFoundError:
            assert expect is not None
            raise AnchorMismatch(f"local chain {self.path} is missing, but this store has anchored "
                                 f"{expect.index + 1} entries in it: it was deleted or moved; restore it"
                                 ) from None
        except IsADirectoryError:
            raise AnchorUnavailable(f"local chain {self.path} is a directory, not a file") from None
        except OSError as exc:
            raise AnchorUnavailable(f"cannot open local chain {self.path} for writing: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            index = self._refresh(fd)
            if expect is not None:
                self._check_tip(fd, index, expect)
            held = index.heads.get((head.model_id, head.tree_size))
            if held is not None:
                if held.head_hash == head.head_hash:
                    entry, signature = self._line_at(fd, index, held.index)
                    return {"entry": entry, "entry_signature": signature}
                raise AnchorMismatch(
                    f"equivocation: local chain {self.path} already anchors a different head of size "
                    f"{head.tree_size} for model {head.model_id!r} (line {held.index + 1}, root "
                    f"{held.root_hash[:16]}...); refusing to anchor a second one (root {head.root_hash[:16]}...): "
                    "the model's log was changed after it was anchored")
            if os.fstat(fd).st_size != index.end:
                # A writer died mid-line. That line was never acknowledged to anyone; drop it.
                os.ftruncate(fd, index.end)
            last = index.last_entry
            entry = {
                "index": len(index.starts), "prev_entry": None if last is None else entry_hash(last),
                "model_id": head.model_id, "tree_size": head.tree_size, "root_hash": head.root_hash,
                "head_hash": head.head_hash, "timestamp": format_timestamp(now or datetime.now(UTC)),
                "key_id": key.key_id,
            }
            signature = key.sign(DOMAIN_LOCAL_CHAIN_ENTRY, entry)
            line = _encode_line({"entry": entry, "signature": signature})
            data = line + b"\n"
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
            self._indexed(index, index.end, line, entry)
        except OSError as exc:
            self._index = None  # what was written, if anything, is re-read next time
            raise AnchorUnavailable(f"cannot append to local chain {self.path}: {exc.strerror}") from exc
        except FormatError as exc:  # an indexed line changed under the index (rewritten in place)
            self._index = None
            raise AnchorUnavailable(f"local chain {self.path} is damaged: {exc}; repair it") from None
        finally:
            os.close(fd)  # releases the flock
        return {"entry": entry, "entry_signature": signature}

    def find(self, head: TreeHead) -> dict[str, Any] | None:
        """The entry for ``head`` if the file holds one, else None. Raises like :meth:`append` on a damaged file."""
        with self._guard:
            return self._find(head)

    def _find(self, head: TreeHead) -> dict[str, Any] | None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AnchorUnavailable(f"cannot read local chain {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            index = self._refresh(fd)
            held = index.heads.get((head.model_id, head.tree_size))
            if held is None or held.head_hash != head.head_hash:
                return None
            entry, signature = self._line_at(fd, index, held.index)
            return {"entry": entry, "entry_signature": signature}
        except OSError as exc:
            raise AnchorUnavailable(f"cannot read local chain {self.path}: {exc.strerror}") from exc
        except FormatError as exc:  # an indexed line changed under the index (rewritten in place)
            self._index = None
            raise AnchorUnavailable(f"local chain {self.path} is damaged: {exc}; repair it") from None
        finally:
            os.close(fd)

    def _refresh(self, fd: int) -> _Index:
        """Bring the index up to the end of the file, reading only what was appended since it was last read.

        The caller holds the file's lock. Each new line is shape-checked and must carry the next index; a line
        that does not raises AnchorUnavailable naming it (the signatures and links are ``pot test``'s to check:
        an append must stay cheap however long the file is).
        """
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise AnchorUnavailable(f"local chain {self.path} is a directory, not a file")
        ident = (info.st_dev, info.st_ino)
        index = self._index
        if index is None or index.ident != ident or info.st_size < index.end or (
                index.starts and os.pread(fd, index.end - index.starts[-1], index.starts[-1])
                != index.last_line + b"\n"):
            index = self._index = _Index(ident)  # another file, or this one rewritten: read it all again
        size = info.st_size
        with strictjson.bounded_recursion():
            rest = self._read_lines(fd, index, index.end, size)
        if rest and (len(rest) > _MAX_LINE or not _torn(rest)):
            raise AnchorUnavailable(f"local chain {self.path} is damaged: line {len(index.starts) + 1} is not a "
                                    "local chain entry (no newline at its end, and not the start of an entry either); "
                                    "repair it")
        return index

    def _read_lines(self, fd: int, index: _Index, start: int, size: int) -> bytes:
        """Index the complete lines from ``start`` to ``size``; return the unfinished line after them."""
        read, rest = start, b""
        while read < size:
            chunk = os.pread(fd, min(_READ_BLOCK, size - read), read)
            if not chunk:
                break  # shorter than fstat said (cut by someone not taking the lock): go by what was read
            read += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                number = len(index.starts) + 1
                entry = _quick_entry(raw)
                if entry is None:
                    try:
                        entry, _ = parse_line(raw, number)  # the full check, for the message (or a false alarm)
                    except FormatError as exc:
                        raise AnchorUnavailable(f"local chain {self.path} is damaged: {exc}; repair it") from None
                if entry["index"] != number - 1:
                    raise AnchorUnavailable(f"local chain {self.path} is damaged: line {number} holds entry "
                                            f"{entry['index']}, not {number - 1} (lines were removed, added or "
                                            "moved); repair it")
                self._indexed(index, start, raw, entry)
                start += len(raw) + 1
            if len(rest) > _MAX_LINE:
                break
        return rest

    @staticmethod
    def _indexed(index: _Index, start: int, raw: bytes, entry: dict[str, Any]) -> None:
        index.starts.append(start)
        index.end = start + len(raw) + 1
        index.last_line, index.last_entry = raw, entry
        # Interned: a long file names few models, so the index holds one string per model, not per entry.
        key = (sys.intern(entry["model_id"]), entry["tree_size"])
        if key not in index.heads:
            index.heads[key] = AnchoredHead(len(index.starts) - 1, entry["head_hash"], entry["root_hash"])

    def _line_at(self, fd: int, index: _Index, i: int) -> tuple[dict[str, Any], str]:
        start = index.starts[i]
        end = index.starts[i + 1] if i + 1 < len(index.starts) else index.end
        return parse_line(os.pread(fd, end - start - 1, start), i + 1)

    def _check_tip(self, fd: int, index: _Index, tip: Tip) -> None:
        count = len(index.starts)
        if tip.index >= count:
            held = f"holds only {count} entries" if count else "is empty"
            raise AnchorMismatch(f"local chain {self.path} {held}, but this store has anchored entry {tip.index} in "
                                 "it: the file was truncated, emptied or replaced; restore it")
        entry, _ = self._line_at(fd, index, tip.index)
        if entry_hash(entry) != tip.entry_hash:
            raise AnchorMismatch(f"local chain {self.path}: line {tip.index + 1} is not the entry this store "
                                 "anchored there: the file was replaced or rewritten; restore it")

    # --- reading and checking -----------------------------------------------------------------------------------

    def _lines(self) -> Iterator[tuple[int, bytes | None]]:
        """(line number, bytes without the newline) of every complete line, then a torn last line as
        ``(number, None)``: what a writer that died mid-line leaves (the next append drops it). Raises FormatError for
        a last line that is not the start of an entry."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        except IsADirectoryError:  # (messages without the path: the callers of audit and entries name it)
            raise AnchorUnavailable("is a directory, not a file") from None
        except OSError as exc:
            raise AnchorUnavailable(f"cannot be read ({exc.strerror})") from exc
        with handle:
            for number, raw in enumerate(handle, 1):
                if raw.endswith(b"\n"):
                    yield number, raw[:-1]
                elif _torn(raw):
                    yield number, None
                else:
                    raise FormatError(f"line {number} is not a local chain entry (no newline at its end, and not "
                                      "the start of an entry either)")

    def entries(self) -> Iterator[tuple[dict[str, Any], str]]:
        """Every (entry, signature) in order, shape-checked. Raises FormatError naming a malformed line."""
        for number, raw in self._lines():
            if raw is None:
                return  # the torn last line
            yield parse_line(raw, number)

    def audit(self, key: PublicKey, *, tip: Tip | None = None) -> ChainAudit:
        """Check the whole file, in order:

        1. every line is an entry (JSON of the right shape), with index equal to its line number - 1;
        2. each entry names its predecessor's entry hash (the first names none);
        3. each entry's signature verifies under ``key``;
        4. no two entries anchor different heads for one (model id, tree size): equivocation;
        5. with ``tip``, the file still holds that entry (it was not deleted, emptied, truncated or replaced).

        Raises :class:`pot.errors.FormatError` for a malformed line and
        :class:`pot.errors.AnchorReceiptError` for the others, naming the line; AnchorUnavailable when the file
        cannot be read.
        """
        prev: str | None = None
        heads: dict[tuple[str, int], AnchoredHead] = {}
        hashes: list[str] = []
        if tip is not None and not self.path.exists() and not self.path.is_symlink():
            raise AnchorReceiptError(f"the file is missing, but this store has anchored {tip.index + 1} entries "
                                     "in it: it was deleted or moved")
        torn = False
        for number, raw in self._lines():
            if raw is None:
                torn = True  # the torn last line
                break
            entry, signature = parse_line(raw, number)
            where = f"line {number}"
            if entry["index"] != number - 1:
                raise AnchorReceiptError(f"{where} holds entry {entry['index']}, not {number - 1}: lines were "
                                         "removed, added or moved")
            if entry["prev_entry"] != prev:
                raise AnchorReceiptError(f"{where} does not link to the entry before it")
            if entry["key_id"] != key.key_id:
                raise AnchorReceiptError(f"{where} names another signing key")
            if not key.verify(DOMAIN_LOCAL_CHAIN_ENTRY, entry, signature):
                raise AnchorReceiptError(f"{where}: the signature does not verify (the entry was changed, or "
                                         "signed by another key)")
            model_key = (sys.intern(entry["model_id"]), entry["tree_size"])
            first = heads.get(model_key)
            if first is None:
                heads[model_key] = AnchoredHead(number - 1, entry["head_hash"], entry["root_hash"])
            elif first.head_hash != entry["head_hash"]:
                raise AnchorReceiptError(
                    f"equivocation: lines {first.index + 1} and {number} anchor two different heads of size "
                    f"{entry['tree_size']} for model {entry['model_id']!r} (roots {first.root_hash[:16]}... and "
                    f"{entry['root_hash'][:16]}...): the model's log was changed after it was anchored")
            prev = entry_hash(entry)
            hashes.append(prev)
        if tip is not None:
            if tip.index >= len(hashes):
                held = f"holds only {len(hashes)} entries" if hashes else "is empty"
                raise AnchorReceiptError(f"the file {held}, but this store has anchored entry {tip.index} in it: "
                                         "it was truncated, emptied or replaced")
            if hashes[tip.index] != tip.entry_hash:
                raise AnchorReceiptError(f"line {tip.index + 1} is not the entry this store anchored there: the "
                                         "file was replaced or rewritten")
        return ChainAudit(len(hashes), heads, hashes, torn)

    def verify(self, key: PublicKey) -> int:
        """:meth:`audit` without a tip; returns the number of entries."""
        return self.audit(key).count


def _quick_entry(raw: bytes) -> dict[str, Any] | None:
    """The entry of a line if it has the shape an append relies on (index, model, size, hashes), else None.

    Cheaper than :func:`parse_line` (plain json, no format checks of the values), which matters for the first
    append of a process to a long file: 100,000 entries (56 MB) took about 1.1 s here instead of 2.1 s. A line
    it does not accept goes through parse_line for the message. ``pot test`` runs the full check on every line.
    """
    if len(raw) > _MAX_LINE:
        return None
    try:
        line = json.loads(raw.decode())  # the caller bounds the recursion
    except (ValueError, RecursionError):
        return None
    if not isinstance(line, dict) or line.keys() != _LINE_FIELDS or not isinstance(line["signature"], str):
        return None
    entry = line["entry"]
    if not isinstance(entry, dict) or entry.keys() != _ENTRY_KEYS:
        return None
    index, size = entry["index"], entry["tree_size"]
    if (type(index) is not int or type(size) is not int or index < 0 or size < 0
            or not isinstance(entry["model_id"], str) or not isinstance(entry["head_hash"], str)
            or not isinstance(entry["root_hash"], str)):
        return None
    return entry


_LINE_START = b'{"entry":{"index":'


def _torn(tail: bytes) -> bool:
    """Could ``tail`` (a last line without its newline) be what a writer that died mid-line left? Only a prefix of
    a line as pot writes it: anything else was put there by something other than pot."""
    return tail.startswith(_LINE_START) or _LINE_START.startswith(tail)


def _encode_line(value: Mapping[str, Any]) -> bytes:
    """A line as pot writes it: compact JSON, ASCII only (so a model id cannot smuggle in a line break)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()


class LocalChainAnchor:
    """Anchor backend writing to a :class:`LocalChain`.

    With ``tips`` (the store), each append first checks that the file still holds the tip the store remembers,
    and then moves the tip forward to the entry it wrote.
    """

    backend: ClassVar[str] = "localchain"
    strength: ClassVar[Strength] = "local"

    def __init__(self, path: Path, key: SigningKey, clock: Callable[[], datetime] | None = None, *,
                 tips: TipKeeper | None = None) -> None:
        self.chain = LocalChain(path)
        self._key = key
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tips = tips

    def anchor(self, head: SignedTreeHead) -> dict[str, Any]:
        remembered = self._tips.local_chain_tip() if self._tips is not None else None
        expect = Tip(*remembered) if remembered is not None else None
        details = self.chain.append(head.head, self._key, self._clock(), expect=expect)
        if self._tips is not None:
            # After the write: a crash in between leaves the file longer than the tip, which is fine.
            self._tips.advance_local_chain_tip(details["entry"]["index"], entry_hash(details["entry"]))
        return details


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
