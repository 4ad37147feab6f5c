"""Records: what a training run writes into its Merkle log.

A record is a frozen dataclass with the seed's field names. Its *body* is a JSON object holding every field
except the id; the leaf hash is ``SHA-256(0x00 || JCS(body))`` (RFC 9162 leaf, RFC 8785 canonical JSON) and the
record id (``checkpoint_id``, ``validation_id``) is that leaf hash in hex. So the id is a content hash, and
every field is bound by it. ``seq`` is the record's index in its model's log; ``salt``, when present, is 16 random
bytes that keep a record's leaf hash from being guessed when a neighbour is disclosed alone.

Frozen by proof format v1: the body layout of each kind (docs/PROOF_FORMAT.md, "Records").
Optional fields that pot added to the seed's are left out of the body when they are unset, so adding one never
changes the leaf hash of a record that does not use it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pot.errors import FormatError
from pot.log.canonical import MAX_SAFE_INTEGER, HexDigest, _encode_string, canonical_json, es_number, to_json_value
from pot.log.canonical import _fast as _fast_canonical

LEAF_PREFIX = b"\x00"
MAX_ID_LENGTH = 256
RECORD_FIELD_DEPTH = 4  # a record field's level in a proof: document, records, record, field

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SALT = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
EARLIEST_TIMESTAMP = "2000-01-01T00:00:00.000000Z"
# Characters no name may hold (docs/PROOF_FORMAT.md section 1): controls (C0, DEL, C1), and the invisible format
# characters that make two different names look the same or reorder what a terminal shows: soft hyphen, Arabic
# letter mark, Mongolian vowel separator, zero-width space/joiners and direction marks, line and paragraph
# separators, bidirectional embeddings, overrides and isolates, word joiner and invisible operators, the byte order
# mark, interlinear annotation marks, lone surrogates, and tag characters. A fixed list, not a Unicode category, so
# that verifiers built on different Unicode versions agree.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
                        "\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")


def leaf_hash(body: Mapping[str, Any]) -> bytes:
    """RFC 9162 leaf hash of a record body."""
    return hashlib.sha256(LEAF_PREFIX + canonical_json(body)).digest()


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z``: the only timestamp form a proof carries."""
    if moment.tzinfo is None:
        raise FormatError("timestamps must be timezone-aware")
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """A proof's timestamp: the fixed form, a real calendar moment (no 30 February, no leap second), from 2000 on."""
    if not isinstance(text, str) or not _TIMESTAMP.fullmatch(text):
        raise FormatError(f"timestamp {_shown(text)} is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        moment = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise FormatError(f"timestamp {text!r} is not a real moment: {exc}") from None
    if text < EARLIEST_TIMESTAMP:
        raise FormatError(f"timestamp {text!r} is before {EARLIEST_TIMESTAMP}")
    return moment


def _shown(value: Any) -> str:
    """A value for an error message: its repr, shortened (hostile input can be megabytes long)."""
    if isinstance(value, int) and value.bit_length() > 256:
        return f"an integer of {value.bit_length()} bits"  # repr() refuses one of more than 4,300 digits
    text = repr(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    return text if len(text) <= 80 else f"{text[:60]}...{text[-12:]}"


# --- field checks: each takes (value, field name) and returns the normalised value or raises FormatError -----


def check_name(value: Any, name: str) -> str:
    """A model, validator, run, node or metric name: 1..256 code points, no control or invisible characters."""
    if value.__class__ is str and value in _VALID_NAMES:
        return value  # the same few names (model, metrics, validator) recur in every record
    if not isinstance(value, str) or not value:
        raise FormatError(f"{name} must be a non-empty string")
    check_text(value, name)
    if len(_VALID_NAMES) < _VALID_NAMES_KEPT:
        _VALID_NAMES.add(value)
    return value


_VALID_NAMES: set[str] = set()
_VALID_NAMES_KEPT = 4096


def check_text(value: Any, name: str, limit: int = MAX_ID_LENGTH) -> str:
    """A string of at most ``limit`` code points (empty allowed) with no control or invisible character."""
    if not isinstance(value, str):
        raise FormatError(f"{name} must be a string")
    if len(value) > limit:
        raise FormatError(f"{name} is longer than {limit} characters")
    bad = _INVISIBLE.search(value)
    if bad:
        raise FormatError(f"{name} contains the control or invisible character U+{ord(bad.group()):04X}")
    return value


def check_file_name(value: Any, name: str) -> str:
    """A file or directory name with no parent path: a name, no ``/`` or ``\\``, not ``.`` or ``..``."""
    check_name(value, name)
    if "/" in value or "\\" in value or value in (".", ".."):
        raise FormatError(f"{name} must be a file name without a directory, got {_shown(value)}")
    return str(value)


def check_hex64(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise FormatError(f"{name} must be 64 lower-case hex digits")
    return value


def check_signature(value: Any, name: str) -> str:
    """An Ed25519 signature as the format writes it: exactly 128 lower-case hex digits."""
    if not isinstance(value, str) or not _SIGNATURE.fullmatch(value):
        raise FormatError(f"{name} must be 128 lower-case hex digits (an Ed25519 signature)")
    return value


def check_count(value: Any, name: str) -> int:
    """A non-negative integer (epoch, step, seq, rank)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise FormatError(f"{name} must be >= 0, got {value}")
    if value > MAX_SAFE_INTEGER:
        raise FormatError(f"{name} is larger than 2**53-1")
    return value


def check_positive(value: Any, name: str) -> int:
    """A Lamport timestamp: an integer >= 1."""
    count = check_count(value, name)
    if count < 1:
        raise FormatError(f"{name} must be >= 1, got {count}")
    return count


def check_object(value: Any, name: str, depth: int = RECORD_FIELD_DEPTH) -> dict[str, Any]:
    """A JSON object, normalised (:func:`pot.log.canonical.to_json_value`); ``depth``: its level in a proof."""
    if not isinstance(value, Mapping):
        raise FormatError(f"{name} must be a JSON object, got {type(value).__name__}")
    out: dict[str, Any] = to_json_value(value, path=name, depth=depth)
    return out


def check_metrics(value: Any, name: str) -> dict[str, Any]:
    """Metrics: an object of names to numbers (or the strings standing for non-finite floats)."""
    if type(value) is dict and _plain_metric_values(value):
        return dict(value)
    out = check_object(value, name)
    for key, item in out.items():
        check_name(key, f"{name} name")
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise FormatError(f"{name}.{key} must be a number, got {type(item).__name__}")
        if isinstance(item, str) and item not in ("NaN", "Infinity", "-Infinity"):
            raise FormatError(f"{name}.{key} must be a number, got the string {item!r}")
    return out


def _plain_metric_values(value: dict[Any, Any]) -> bool:
    """Names seen valid before, each with a finite float or a JSON-safe int: what training loops record, checked
    without normalising a copy (anything else takes the general path, which also says what is wrong)."""
    for key, item in value.items():
        if key not in _VALID_NAMES:
            return False
        kind = type(item)
        if kind is float:
            if item - item != 0.0:  # nan or an infinity
                return False
        elif kind is not int or not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            return False
    return True


def check_confidence(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(f"{name} must be a number in [0, 1]")
    # compare before anything converts it: an integer of hundreds of digits has no float
    if not (0 <= value <= 1) or (isinstance(value, float) and not math.isfinite(value)):
        raise FormatError(f"{name} must be a number in [0, 1], got {_shown(value)}")
    return value


def check_salt(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _SALT.fullmatch(value):
        raise FormatError(f"{name} must be 32 lower-case hex digits")
    return value


def check_short_text(value: Any, name: str) -> str:
    """A free-form label or digest (model hash, fingerprint): 1..256 printable characters."""
    return check_name(value, name)


def check_timestamp(value: Any, name: str) -> str:
    parse_timestamp(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    check: Callable[[Any, str], Any]
    required: bool = True
    nullable: bool = False  # the seed's optional fields: always in the body, null when unset
    omit_if_none: bool = False  # pot's additions: left out of the body when unset


# Fields every record kind has. "type" is added by the kind.
_COMMON: dict[str, FieldSpec] = {
    "model_id": FieldSpec(check_name),
    "seq": FieldSpec(check_count),
    "timestamp": FieldSpec(check_timestamp),
    "salt": FieldSpec(check_salt, required=False, omit_if_none=True),
    "rank": FieldSpec(check_count, required=False, omit_if_none=True),
    "run_id": FieldSpec(check_name, required=False, omit_if_none=True),
    "node_id": FieldSpec(check_name, required=False, omit_if_none=True),
    "lamport": FieldSpec(check_positive, required=False, omit_if_none=True),
}


class Record:
    """Behaviour shared by every record kind. Subclasses are frozen, slotted dataclasses."""

    KIND: ClassVar[str]
    ID_FIELD: ClassVar[str]
    FIELDS: ClassVar[dict[str, FieldSpec]]
    __slots__ = ()
    # Every kind has these (see _COMMON); declared here for type checkers, defined by each dataclass.
    model_id: str
    seq: int
    timestamp: str
    salt: str | None
    rank: int | None
    run_id: str | None
    node_id: str | None
    lamport: int | None

    @property
    def record_id(self) -> HexDigest:
        return HexDigest(getattr(self, self.ID_FIELD))

    def body(self) -> dict[str, Any]:
        """The JSON object the leaf hash covers (everything but the id)."""
        return self._make_body({name: getattr(self, name) for name in self.FIELDS})

    @classmethod
    def _make_body(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": cls.KIND}
        for name, spec in cls.FIELDS.items():
            value = values.get(name)
            if value is None and spec.omit_if_none:
                continue
            out[name] = value
        return out

    def to_json(self) -> dict[str, Any]:
        """The record as a proof carries it: the body plus its id."""
        return {"id": self.record_id, **self.body()}

    def leaf(self) -> bytes:
        return leaf_hash(self.body())

    @classmethod
    def _check_body(cls, body: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise FormatError(f"a {cls.KIND} record must be a JSON object")
        if body.get("type") != cls.KIND:
            raise FormatError(f"record type is {body.get('type')!r}, expected {cls.KIND!r}")
        unknown = body.keys() - cls.FIELDS.keys() - {"type"}
        if unknown:
            raise FormatError(f"{cls.KIND} record has unknown field(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, spec in cls.FIELDS.items():
            if name not in body:
                if spec.required:
                    raise FormatError(f"{cls.KIND} record is missing {name!r}")
                values[name] = None
                continue
            value = body[name]
            if value is None:
                if not spec.nullable:
                    # An omitted field and an explicit null would hash differently; only one form is allowed.
                    raise FormatError(f"{cls.KIND} record field {name!r} may not be null")
                values[name] = None
                continue
            values[name] = spec.check(value, name)
        if (values["node_id"] is None) != (values["lamport"] is None):
            raise FormatError(f"{cls.KIND} record has a node_id or a lamport stamp without the other")
        return values

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Record:
        """Check a body and build the record; its id is computed, never taken from input."""
        if type(body) is dict:
            read = _read_plain(cls, body)  # the plain case in one pass; anything else is decided below
            if read is not None:
                return read
        values = cls._check_body(body)
        if type(body) is dict:
            # A body read from JSON holds plain values, which the checks left as they were, so its own canonical
            # form is the record's: no need to build the body again to hash it.
            return cls(**values, **{cls.ID_FIELD: leaf_hash(body).hex()})
        return cls.from_checked(values)

    @classmethod
    def from_checked(cls, values: dict[str, Any]) -> Record:
        """Build a record from values that :meth:`check_values` (or a body check) already accepted."""
        return cls(**values, **{cls.ID_FIELD: leaf_hash(cls._make_body(values)).hex()})

    @classmethod
    def check_values(cls, **values: Any) -> dict[str, Any]:
        """Check and normalise caller values for a new record; the result feeds :meth:`from_checked`."""
        unknown = set(values) - set(cls.FIELDS)
        if unknown:
            raise FormatError(f"unknown {cls.KIND} field(s): {', '.join(sorted(unknown))}")
        return cls._check_body(cls._make_body(values))

    @classmethod
    def create(cls, **values: Any) -> Record:
        """Build a new record from caller values (checked and normalised), computing its id."""
        return cls.from_checked(cls.check_values(**values))

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> PreparedRecord:
        """Encode checked values now, leaving ``seq`` and ``lamport`` to fill in later (inside a store's write lock,
        where they become known): see :class:`PreparedRecord`."""
        return PreparedRecord(cls, values)

    @classmethod
    def prepare_new(cls, values: dict[str, Any]) -> PreparedRecord:
        """Check caller values for a new record and prepare it: :meth:`check_values` then :meth:`prepare`, in one
        pass when every value is of a plain type (what a training loop records, the hot path), else the two steps.
        Both give the same record, or the same refusal (the one-pass path hands anything unusual to them)."""
        prepared = _prepare_plain(cls, values)
        if prepared is not None:
            return prepared
        return PreparedRecord(cls, cls.check_values(**values))


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
                lines += [f"    if f_{name} is None:", f"        append({key + 'null'!r})", "    else:", *encode]
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


def _fields(**specific: FieldSpec) -> dict[str, FieldSpec]:
    return {**_COMMON, **specific}


@dataclass(frozen=True, slots=True)
class TrainingCheckpoint(Record):
    """A training checkpoint: the model's weight hash at an epoch, with its metrics (seed field names)."""

    model_hash: str
    epoch: int
    metrics: dict[str, Any]
    timestamp: str
    model_id: str
    checkpoint_id: str
    fingerprint_hash: str | None = None
    validation_hash: str | None = None
    seq: int = 0
    salt: str | None = None
    rank: int | None = None
    run_id: str | None = None
    node_id: str | None = None
    lamport: int | None = None
    step: int | None = None
    file_sha256: str | None = None
    file_name: str | None = None

    KIND: ClassVar[str] = "checkpoint"
    ID_FIELD: ClassVar[str] = "checkpoint_id"
    FIELDS: ClassVar[dict[str, FieldSpec]] = _fields(
        model_hash=FieldSpec(check_short_text),
        epoch=FieldSpec(check_count),
        metrics=FieldSpec(check_metrics),
        fingerprint_hash=FieldSpec(check_short_text, nullable=True),
        validation_hash=FieldSpec(check_short_text, nullable=True),
        step=FieldSpec(check_count, required=False, omit_if_none=True),
        file_sha256=FieldSpec(check_hex64, required=False, omit_if_none=True),
        file_name=FieldSpec(check_file_name, required=False, omit_if_none=True),
    )

    @classmethod
    def _check_body(cls, body: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = Record._check_body.__func__(cls, body)  # type: ignore[attr-defined]
        if (values["file_name"] is None) != (values["file_sha256"] is None):
            raise FormatError("checkpoint record has one of file_sha256 and file_name without the other")
        return values


@dataclass(frozen=True, slots=True)
class ValidationRecord(Record):
    """A validation of a model by a validator, with its results (seed field names)."""

    model_hash: str
    validator_id: str
    validation_result: dict[str, Any]
    timestamp: str
    model_id: str
    validation_id: str
    confidence_score: float | None = None
    challenge_hash: str | None = None
    seq: int = 0
    salt: str | None = None
    rank: int | None = None
    run_id: str | None = None
    node_id: str | None = None
    lamport: int | None = None

    KIND: ClassVar[str] = "validation"
    ID_FIELD: ClassVar[str] = "validation_id"
    FIELDS: ClassVar[dict[str, FieldSpec]] = _fields(
        model_hash=FieldSpec(check_short_text),
        validator_id=FieldSpec(check_name),
        validation_result=FieldSpec(check_object),
        confidence_score=FieldSpec(check_confidence, nullable=True),
        challenge_hash=FieldSpec(check_short_text, nullable=True),
    )


MAX_STEPS_PER_BLOCK = 100_000


def _plain_counts(value: list[Any]) -> bool:
    """All plain ints in 0..2**53-1: the usual case, checked in one pass without a call per item."""
    return all(type(item) is int for item in value) and min(value) >= 0 and max(value) <= MAX_SAFE_INTEGER


def check_steps(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise FormatError(f"{name} must be a non-empty list of step numbers")
    if len(value) > MAX_STEPS_PER_BLOCK:
        raise FormatError(f"{name} holds more than {MAX_STEPS_PER_BLOCK} steps")
    steps = list(value) if _plain_counts(value) else [check_count(item, f"{name}[{i}]")
                                                      for i, item in enumerate(value)]
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise FormatError(f"{name} must be strictly increasing")
    return steps


def check_epochs(value: Any, name: str) -> list[int]:
    if not isinstance(value, list):
        raise FormatError(f"{name} must be a list of epoch numbers, one per step")
    if value and _plain_counts(value):
        return list(value)
    return [check_count(item, f"{name}[{i}]") for i, item in enumerate(value)]


def _plain_series(series: Any) -> bool:
    """A list of finite plain floats (or None): what training loops log, checked without a call per value."""
    if type(series) is not list:
        return False
    for item in series:
        if item is None:
            continue
        if type(item) is not float or item - item != 0.0:  # x - x is nan for nan and for +-inf
            return False
    return True


def check_step_metrics(value: Any, name: str) -> dict[str, list[Any]]:
    """Per-metric value lists (number, a non-finite string, or null where a step lacks the metric)."""
    if type(value) is dict and all(type(key) is str and _plain_series(series) for key, series in value.items()):
        for key in value:
            check_name(key, f"{name} name")
        return {key: list(series) for key, series in value.items()}
    out = check_object(value, name)
    for key, series in out.items():
        check_name(key, f"{name} name")
        if not isinstance(series, list):
            raise FormatError(f"{name}.{key} must be a list of values, one per step")
        for i, item in enumerate(series):
            if item is None:
                continue
            if isinstance(item, bool) or not isinstance(item, int | float | str) or (
                    isinstance(item, str) and item not in ("NaN", "Infinity", "-Infinity")):
                raise FormatError(f"{name}.{key}[{i}] must be a number or null")
    return out


@dataclass(frozen=True, slots=True)
class StepsRecord(Record):
    """The metrics of a block of training steps, recorded together: one leaf per block, every step's values in it."""

    steps: list[int]
    metrics: dict[str, list[Any]]
    timestamp: str
    model_id: str
    steps_id: str
    seq: int = 0
    salt: str | None = None
    rank: int | None = None
    run_id: str | None = None
    node_id: str | None = None
    lamport: int | None = None
    epochs: list[int] | None = None

    KIND: ClassVar[str] = "steps"
    ID_FIELD: ClassVar[str] = "steps_id"
    FIELDS: ClassVar[dict[str, FieldSpec]] = _fields(
        steps=FieldSpec(check_steps),
        metrics=FieldSpec(check_step_metrics),
        epochs=FieldSpec(check_epochs, required=False, omit_if_none=True),
    )

    @classmethod
    def _check_body(cls, body: Mapping[str, Any]) -> dict[str, Any]:
        # not super(): slots=True makes the dataclass a new class, which zero-argument super() does not know
        values: dict[str, Any] = Record._check_body.__func__(cls, body)  # type: ignore[attr-defined]
        count = len(values["steps"])
        for key, series in values["metrics"].items():
            if len(series) != count:
                raise FormatError(f"metrics.{key} has {len(series)} values for {count} steps")
        if values["epochs"] is not None and len(values["epochs"]) != count:
            raise FormatError(f"epochs has {len(values['epochs'])} values for {count} steps")
        return values


# Lineage and run-registry events (shared/seeds/000): what happened to a run or a model, in the same log.
EVENT_NAMES = ("RunStarted", "MetricLogged", "ArtifactSaved", "RunCompleted", "ModelPromoted", "PromotionRefused",
               "ModelRolledBack")


def check_event_name(value: Any, name: str) -> str:
    if value not in EVENT_NAMES:
        raise FormatError(f"{name} must be one of {', '.join(EVENT_NAMES)}, got {value!r}")
    return str(value)


@dataclass(frozen=True, slots=True)
class EventRecord(Record):
    """A lineage event of a run (started, metric, artifact, completed) or of a model (promoted, rolled back)."""

    event: str
    data: dict[str, Any]
    timestamp: str
    model_id: str
    event_id: str
    run_id: str | None = None  # runs' events have one; a model's promotions and rollbacks do not
    seq: int = 0
    salt: str | None = None
    rank: int | None = None
    node_id: str | None = None
    lamport: int | None = None

    KIND: ClassVar[str] = "event"
    ID_FIELD: ClassVar[str] = "event_id"
    FIELDS: ClassVar[dict[str, FieldSpec]] = _fields(
        event=FieldSpec(check_event_name),
        data=FieldSpec(check_object),
    )

    @classmethod
    def _check_body(cls, body: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = Record._check_body.__func__(cls, body)  # type: ignore[attr-defined]
        # Each event's data has a schema of its own, defined with the events (a lineage module the log core
        # reaches only here, when an event is read or made).
        from pot.lineage.events import check_event_data

        check_event_data(values["event"], values["data"], run_id=values["run_id"], node_id=values["node_id"],
                         lamport=values["lamport"])
        return values


RECORD_KINDS: dict[str, type[Record]] = {
    TrainingCheckpoint.KIND: TrainingCheckpoint,
    ValidationRecord.KIND: ValidationRecord,
    EventRecord.KIND: EventRecord,
    StepsRecord.KIND: StepsRecord,
}


_PLAIN.update({check_name: _plain_name, check_short_text: _plain_short_text, check_count: _plain_count,
               check_timestamp: _plain_timestamp, check_salt: _plain_salt, check_hex64: _plain_hex64,
               check_metrics: _plain_metrics, check_confidence: _plain_confidence, check_object: _plain_object,
               check_file_name: _plain_file_name})
# The kinds a training loop records many of; the others (steps blocks, events) always take the general path.
_ONE_PASS_KINDS = frozenset({TrainingCheckpoint, ValidationRecord})


def register_kind(kind: type[Record]) -> type[Record]:
    """Add a record kind (lineage events, run records) to the set a proof may carry."""
    RECORD_KINDS[kind.KIND] = kind
    return kind


def record_from_body(body: Mapping[str, Any]) -> Record:
    if not isinstance(body, Mapping):
        raise FormatError("a record must be a JSON object")
    kind = RECORD_KINDS.get(body.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise FormatError(f"unknown record type {body.get('type')!r}")
    return kind.from_body(body)


def record_fields(record: Record) -> dict[str, Any]:
    """All dataclass fields of a record, id included (for display and for the seed's ``asdict`` users)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}  # type: ignore[arg-type]


__all__ = [
    "EVENT_NAMES",
    "RECORD_KINDS",
    "EventRecord",
    "FieldSpec",
    "Record",
    "StepsRecord",
    "TrainingCheckpoint",
    "ValidationRecord",
    "format_timestamp",
    "leaf_hash",
    "parse_timestamp",
    "record_fields",
    "record_from_body",
    "register_kind",
]
