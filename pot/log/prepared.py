"""Records prepared for a store, and the one-pass path that checks and encodes plain values together.

A store appends a record inside its write lock, where the record's ``seq`` and Lamport stamp become known.
:class:`PreparedRecord` holds everything else already checked and encoded as canonical JSON (RFC 8785), so only
those two fields are filled in under the lock; :class:`CompletedRecord` is the result, its text and leaf hash made.

The one-pass path (the recorder's hot path, and reading a proof's records) does for values of plain types (exact
``str``, ``int``, ``float``; names already seen valid) what :meth:`pot.log.records.Record.check_values` and
:func:`pot.log.canonical.canonical_json` do, in one pass written out per record kind from its field table. It
accepts a subset of what the general path accepts and hands anything else to it, and tests show the two agree
(tests/unit/test_prepared.py). Nothing here decides the format: pot.log.records and pot.log.canonical do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pot.log import records as _records
from pot.log.canonical import MAX_SAFE_INTEGER, HexDigest, _encode_string, canonical_json, es_number
from pot.log.canonical import _fast as _fast_canonical
from pot.log.records import (
    _HEX64,
    _INVISIBLE,
    _SALT,
    _TIMESTAMP,
    _VALID_NAMES,
    _VALID_NAMES_KEPT,
    EARLIEST_TIMESTAMP,
    LEAF_PREFIX,
    MAX_ID_LENGTH,
    Record,
    TrainingCheckpoint,
    ValidationRecord,
    check_confidence,
    check_count,
    check_file_name,
    check_hex64,
    check_metrics,
    check_name,
    check_object,
    check_salt,
    check_short_text,
    check_timestamp,
)

# Stand-ins for the two fields a store fills in at append time. Integers have one canonical spelling, and object
# keys sort by name, not value, so swapping a stand-in's digits for the real value's yields the canonical JSON of
# the real body.
_SEQ_STAND_IN = MAX_SAFE_INTEGER
_LAMPORT_STAND_IN = MAX_SAFE_INTEGER - 1


class PreparedRecord:
    """A checked record whose canonical JSON is computed except for ``seq`` and ``lamport``.

    :meth:`complete` gives the record and its canonical JSON text (what the leaf hash covers, and what a store
    keeps) in a few microseconds, so the work done while other writers wait stays small.
    """

    __slots__ = ("_entries", "_kind", "_lamport_at", "_lamport_token", "_seq_at", "_seq_token", "_text", "_values")

    def __init__(self, kind: type[Record], values: dict[str, Any], *,
                 entries: list[str] | None = None, seq_at: int = -1, lamport_at: int = -1) -> None:
        self._kind = kind
        self._values = values
        # One-pass form: the body's members in canonical order, '"name":value', with seq's and lamport's to fill in.
        self._entries, self._seq_at, self._lamport_at = entries, seq_at, lamport_at
        self._text: str | None = None
        self._seq_token = self._lamport_token = ""
        if entries is not None:
            return
        stamped = values.get("lamport") is not None
        body = kind._make_body({**values, "seq": _SEQ_STAND_IN,
                                "lamport": _LAMPORT_STAND_IN if stamped else None})
        self._text = canonical_json(body).decode("utf-8")
        self._seq_token = f'"seq":{_SEQ_STAND_IN}'
        self._lamport_token = f'"lamport":{_LAMPORT_STAND_IN}' if stamped else ""
        if self._text.count(self._seq_token) != 1 or (
                self._lamport_token and self._text.count(self._lamport_token) != 1):
            self._text = None  # a value elsewhere spells a stand-in (astronomically rare): encode the whole body

    def complete(self, seq: int, lamport: int | None) -> CompletedRecord:
        kind, values = self._kind, {**self._values, "seq": seq, "lamport": lamport}
        stamped = lamport is not None
        if self._entries is not None and stamped == (self._lamport_at >= 0):
            entries = self._entries.copy()
            entries[self._seq_at] = '"seq":' + int.__repr__(seq)
            if stamped:
                entries[self._lamport_at] = '"lamport":' + int.__repr__(lamport)
            text = "{" + ",".join(entries) + "}"
        elif self._text is not None and stamped == bool(self._lamport_token):
            text = self._text.replace(self._seq_token, f'"seq":{seq}', 1)
            if stamped:
                text = text.replace(self._lamport_token, f'"lamport":{lamport}', 1)
        else:
            text = canonical_json(kind._make_body(values)).decode("utf-8")
        leaf = hashlib.sha256(LEAF_PREFIX + text.encode("utf-8")).digest()
        return CompletedRecord(kind, values, leaf, text)


class CompletedRecord:
    """A record with its seq, stamp, canonical JSON text and leaf hash, as a store appends it. The record object
    itself (:meth:`record`) is built only when asked for: a training loop that records a checkpoint needs its id."""

    __slots__ = ("_record", "kind", "leaf", "text", "values")

    def __init__(self, kind: type[Record], values: dict[str, Any], leaf: bytes, text: str) -> None:
        self.kind, self.values, self.leaf, self.text = kind, values, leaf, text
        self._record: Record | None = None

    @property
    def record_id(self) -> HexDigest:
        return HexDigest(self.leaf.hex())

    @property
    def seq(self) -> int:
        return int(self.values["seq"])

    @property
    def lamport(self) -> int | None:
        stamp: int | None = self.values["lamport"]
        return stamp

    @property
    def timestamp(self) -> str:
        return str(self.values["timestamp"])

    def record(self) -> Record:
        if self._record is None:
            self._record = self.kind(**self.values, **{self.kind.ID_FIELD: self.leaf.hex()})
        return self._record


# --- the one-pass path: plain values checked and encoded together ------------------------------------------------
# Each field's check has a plain-value twin here: it accepts a subset of what the check accepts (exact types, names
# seen valid before) and encodes it as canonical JSON. Anything else goes to the general path, which decides.

_NAME_TEXT: dict[str, str] = {}  # a name the checks accepted -> its JSON string


def _plain_name(value: Any) -> str | None:
    text = _NAME_TEXT.get(value) if value.__class__ is str else None
    if text is None and value.__class__ is str and value in _VALID_NAMES:
        text = _encode_string(value)
        if len(_NAME_TEXT) < _VALID_NAMES_KEPT:
            _NAME_TEXT[value] = text
    return text


def _plain_short_text(value: Any) -> str | None:
    """A name that is usually new (a model hash): checked here, not remembered."""
    if value.__class__ is not str:
        return None
    cached = _plain_name(value)
    if cached is not None:
        return cached
    if not value or len(value) > MAX_ID_LENGTH or _INVISIBLE.search(value):
        return None
    return _encode_string(value)


def _plain_count(value: Any) -> str | None:
    if value.__class__ is int and 0 <= value <= MAX_SAFE_INTEGER:
        return int.__repr__(value)
    return None


def _plain_timestamp(value: Any) -> str | None:
    if value.__class__ is str and value >= EARLIEST_TIMESTAMP and _TIMESTAMP.fullmatch(value):
        try:
            datetime.fromisoformat(value[:-1])  # a real calendar moment
        except ValueError:
            return None
        return '"' + value + '"'
    return None


def _plain_salt(value: Any) -> str | None:
    return '"' + value + '"' if value.__class__ is str and _SALT.fullmatch(value) else None


def _plain_hex64(value: Any) -> str | None:
    return '"' + value + '"' if value.__class__ is str and _HEX64.fullmatch(value) else None


_METRIC_LAYOUTS: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}  # names as given -> (name, '"name":') sorted


def _plain_metrics(value: Any) -> str | None:
    """Checkpoint metrics: names seen valid before, finite floats or JSON-safe ints. A training loop logs the same
    names every time, so their order and JSON are worked out once per set of names."""
    if value.__class__ is not dict:
        return None
    names = tuple(value)
    layout = _METRIC_LAYOUTS.get(names)
    if layout is None:
        if not all(name in _VALID_NAMES and (name.isascii() or max(name) <= "\uffff") for name in names):
            return None  # unknown yet, or outside the BMP (UTF-16 order): the general path decides
        layout = tuple((name, _encode_string(name) + ":") for name in sorted(names))
        if len(_METRIC_LAYOUTS) < 1024:
            _METRIC_LAYOUTS[names] = layout
    parts = []
    for name, key in layout:
        item = value[name]
        kind = item.__class__
        if kind is float:
            text = float.__repr__(item)
            if "e" in text or text.endswith(".0") or text[-1] in "fn":  # not already ECMAScript's form
                if item - item != 0.0:
                    return None  # nan or an infinity: the general path records it as a string
                text = es_number(item)
        elif kind is int and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            text = int.__repr__(item)
        else:
            return None
        parts.append(key + text)
    return "{" + ",".join(parts) + "}"


def _plain_object(value: Any) -> str | None:
    """A flat free-form object (a validation result): string keys, and values that are strings, finite numbers,
    booleans or null."""
    if value.__class__ is not dict:
        return None
    for key, item in value.items():
        if key.__class__ is not str:
            return None
        kind = item.__class__
        if kind is float:
            if item - item != 0.0:
                return None
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return None
        elif not (kind is str or item is None or kind is bool):
            return None
    text = _fast_canonical(value)
    if not text.isascii() and (max(text) > "\uffff" or _SURROGATE.search(text)):
        return None  # UTF-16 key order, or a lone surrogate: the general path's encoder decides
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain_file_name(value: Any) -> str | None:
    text = _plain_short_text(value)
    if text is None or "/" in value or "\\" in value or value in (".", ".."):
        return None
    return text


def _plain_confidence(value: Any) -> str | None:
    kind = value.__class__
    if (kind is float or kind is int) and 0 <= value <= 1:
        return _fast_canonical(value)
    return None


_PLAIN: dict[Callable[[Any, str], Any], Callable[[Any], str | None]] = {}  # filled below, once the checks exist
# A plan row: (field, its '"name":' text, role, plain check, nullable, omitted when None), in canonical order.
_Row = tuple[str, str, int, Callable[[Any], str | None] | None, bool, bool]
_PLANS: dict[type[Record], tuple[_Row, ...]] = {}
_VALUE, _TYPE, _SEQ, _LAMPORT = 0, 1, 2, 3


def _plan(kind: type[Record]) -> tuple[_Row, ...]:
    plan = _PLANS.get(kind)
    if plan is None:
        rows: list[_Row] = [("type", _encode_string("type") + ":", _TYPE, None, False, False)]
        for name, spec in kind.FIELDS.items():
            role = _SEQ if name == "seq" else _LAMPORT if name == "lamport" else _VALUE
            rows.append((name, _encode_string(name) + ":", role, _PLAIN.get(spec.check), spec.nullable,
                         spec.omit_if_none))
        plan = tuple(sorted(rows, key=lambda row: row[0]))  # ASCII names: code-point order is RFC 8785's order
        _PLANS[kind] = plan
    return plan


def _prepare_plain(kind: type[Record], values: dict[str, Any]) -> PreparedRecord | None:
    prepare = _ONE_PASS.get(kind)
    if prepare is None:
        if kind not in _ONE_PASS_KINDS:
            return None
        prepare = _ONE_PASS[kind] = _compile_one_pass(kind)
    return prepare(values)


def _read_plain(kind: type[Record], body: dict[str, Any]) -> Record | None:
    """A record read from a plain body in one pass (its id from the canonical text that pass makes), or None."""
    read = _READ_PLAIN.get(kind)
    if read is None:
        if kind not in _ONE_PASS_KINDS:
            return None
        read = _READ_PLAIN[kind] = _compile_one_pass(kind, body=True)
    prepared = read(body)
    if prepared is None:
        return None
    return prepared.complete(body["seq"], body.get("lamport")).record()


_ONE_PASS: dict[type[Record], Callable[[dict[str, Any]], PreparedRecord | None]] = {}
_READ_PLAIN: dict[type[Record], Callable[[dict[str, Any]], PreparedRecord | None]] = {}


def _compile_one_pass(kind: type[Record], *, body: bool = False
                      ) -> Callable[[dict[str, Any]], PreparedRecord | None]:
    """The one-pass function of a kind, written out field by field from its plan (as ``dataclasses`` writes
    ``__init__``): the same steps a loop over the plan would take, without the loop's bookkeeping per field, which
    was most of its cost. Returns None wherever the general path must decide.

    ``body``: the function takes a record's body as read from JSON (with its ``type``, and a ``seq`` to check),
    for :meth:`Record.from_body`, rather than a new record's values."""
    namespace: dict[str, Any] = {"PreparedRecord": PreparedRecord, "kind": kind, "MAX": MAX_SAFE_INTEGER,
                                 "FIELDS": frozenset(kind.FIELDS) | ({"type"} if body else set())}
    lines = ["def one_pass(values):", "    if not values.keys() <= FIELDS:", "        return None",
             "    get = values.get", "    entries = []", "    append = entries.append", "    lamport_at = -1"]
    # every field read once, into a local the checks and the record's values share
    lines += [f"    f_{name} = get({name!r})" for name in kind.FIELDS]
    if body:
        lines += [f"    if get('type') != {kind.KIND!r}:", "        return None"]
    for name, key, role, plain, nullable, omit in _plan(kind):
        if role is _TYPE:
            lines.append(f"    append({key + _encode_string(kind.KIND)!r})")
        elif role is _SEQ:
            if body:
                lines += ["    if f_seq.__class__ is not int or not 0 <= f_seq <= MAX:", "        return None"]
            lines += ["    seq_at = len(entries)", "    append('')"]
        elif role is _LAMPORT:
            if body:
                lines += ["    if f_lamport is None and 'lamport' in values:", "        return None"]
            lines += ["    if f_lamport is not None:",
                      "        if f_lamport.__class__ is not int or not 1 <= f_lamport <= MAX:",
                      "            return None",
                      "        lamport_at = len(entries)", "        append('')"]
        else:
            if plain is None:  # a field with no plain check: the general path decides whenever it has a value
                encode = ["        return None"]
            else:
                namespace[f"plain_{name}"] = plain
                encode = [f"        text = plain_{name}(f_{name})", "        if text is None:",
                          "            return None", f"        append({key!r} + text)"]
            if omit:
                if body:  # in a body, an optional field is absent, never null (null would hash differently)
                    lines += [f"    if f_{name} is None and {name!r} in values:", "        return None"]
                lines += [f"    if f_{name} is not None:", *encode]
            elif nullable:
                lines.append(f"    if f_{name} is None:")
                if body:  # in a body, a nullable field is always present: absent is malformed, not null
                    lines += [f"        if {name!r} not in values:", "            return None"]
                lines += [f"        append({key + 'null'!r})", "    else:", *encode]
            else:
                lines += [f"    if f_{name} is None:", "        return None", "    if True:", *encode]
    lines += ["    if (f_node_id is None) != (f_lamport is None):", "        return None"]
    if kind is TrainingCheckpoint:
        lines += ["    if (f_file_name is None) != (f_file_sha256 is None):", "        return None"]
    checked = ", ".join(f"{name!r}: f_{name}" for name in kind.FIELDS)
    lines.append(f"    checked = {{{checked}}}")
    if "metrics" in kind.FIELDS:
        lines.append("    checked['metrics'] = dict(f_metrics)  # the record keeps its own copy")
    lines.append("    return PreparedRecord(kind, checked, entries=entries, seq_at=seq_at, lamport_at=lamport_at)")
    exec("\n".join(lines), namespace)
    function: Callable[[dict[str, Any]], PreparedRecord | None] = namespace["one_pass"]
    return function



_PLAIN.update({check_name: _plain_name, check_short_text: _plain_short_text, check_count: _plain_count,
               check_timestamp: _plain_timestamp, check_salt: _plain_salt, check_hex64: _plain_hex64,
               check_metrics: _plain_metrics, check_confidence: _plain_confidence, check_object: _plain_object,
               check_file_name: _plain_file_name})
# The kinds a training loop records many of; the others (steps blocks, events) always take the general path.
_ONE_PASS_KINDS = frozenset({TrainingCheckpoint, ValidationRecord})




class _Hooks(_records._OnePassHooks):
    def read(self, kind: type[Record], body: dict[str, Any]) -> Record | None:
        return _read_plain(kind, body)

    def prepare_new(self, kind: type[Record], values: dict[str, Any]) -> PreparedRecord:
        prepared = _prepare_plain(kind, values)
        if prepared is not None:
            return prepared
        return PreparedRecord(kind, kind.check_values(**values))


_records._ONE_PASS = _Hooks()
