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
from typing import TYPE_CHECKING, Any, ClassVar

from pot.errors import FormatError

if TYPE_CHECKING:
    from pot.log.prepared import PreparedRecord
from pot.log.canonical import MAX_SAFE_INTEGER, HexDigest, canonical_json, to_json_value

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
            read = _ONE_PASS.read(cls, body)  # the plain case in one pass (pot.log.prepared); else decided below
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
    def prepare_new(cls, values: dict[str, Any]) -> PreparedRecord:
        """Check caller values for a new record and prepare it for a store (:class:`pot.log.prepared.PreparedRecord`):
        in one pass when every value is of a plain type (what a training loop records, the hot path), else by
        :meth:`check_values`. Both give the same record, or the same refusal."""
        return _ONE_PASS.prepare_new(cls, values)


class _OnePassHooks:
    """Where :mod:`pot.log.prepared` plugs in (it imports this module, so it registers itself when imported, which
    ``pot.log``'s ``__init__`` does): the one-pass read and prepare. Until then, the general path."""

    def read(self, kind: type[Record], body: dict[str, Any]) -> Record | None:
        return None

    def prepare_new(self, kind: type[Record], values: dict[str, Any]) -> PreparedRecord:
        raise NotImplementedError("pot.log.prepared is not loaded")


_ONE_PASS = _OnePassHooks()


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
    optimizer_hash: str | None = None
    rng_hash: str | None = None

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
        # recorded for replay (pot.replay): the pot.state-hash.v1 digests of the optimizer's and the RNGs' state
        optimizer_hash=FieldSpec(check_hex64, required=False, omit_if_none=True),
        rng_hash=FieldSpec(check_hex64, required=False, omit_if_none=True),
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


def check_batches(value: Any, name: str) -> list[str]:
    """Batch digests (pot.replay): one 64-hex pot.model-hash.v1 digest per step."""
    if type(value) is not list:
        raise FormatError(f"{name} must be a list of batch digests, one per step")
    for i, item in enumerate(value):
        if item.__class__ is not str or len(item) != 64 or not _HEX64.fullmatch(item):
            raise FormatError(f"{name}[{i}] must be 64 lower-case hex digits")
    return list(value)


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
    batches: list[str] | None = None

    KIND: ClassVar[str] = "steps"
    ID_FIELD: ClassVar[str] = "steps_id"
    FIELDS: ClassVar[dict[str, FieldSpec]] = _fields(
        steps=FieldSpec(check_steps),
        metrics=FieldSpec(check_step_metrics),
        epochs=FieldSpec(check_epochs, required=False, omit_if_none=True),
        batches=FieldSpec(check_batches, required=False, omit_if_none=True),
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
        if values["batches"] is not None and len(values["batches"]) != count:
            raise FormatError(f"batches has {len(values['batches'])} digests for {count} steps")
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
