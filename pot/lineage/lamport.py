"""Causal order across training nodes: Lamport clocks, lineage events and the check a verifier runs on them.

Each node (a trainer, an evaluator, a promotion service) keeps a :class:`LamportClock`. It ticks the clock for
every event it records, attaches ``send()``'s value to every message it sends, and calls ``merge(stamp)`` when a
message arrives; the event recorded on receipt names the message it merged in ``data["merged_from"]``. A log
written that way satisfies :func:`check_causal_order`, which a verifier can run without trusting any wall clock::

    trainer, evaluator = LamportClock("trainer"), LamportClock("evaluator")
    stamp = trainer.send()                      # trainer: RunCompleted at lamport 1
    evaluator.merge(stamp)                      # evaluator: receives it, now at 2
    # evaluator records ModelPromoted at lamport 2 with data={"merged_from": {"node_id": "trainer", "lamport": 1}}

What a Lamport clock can and cannot say (Lamport 1978, "Time, Clocks, and the Ordering of Events"): if event
``a`` causally precedes event ``b`` then ``C(a) < C(b)``. The converse does not hold. So a lower time never proves
that one event caused or saw another; it only proves that the other did not cause this one. Equal times on two
nodes do prove that neither event saw the other. The names :meth:`LamportTimestamp.happens_before` and
:meth:`LamportTimestamp.is_concurrent_with` come from the seed and are documented with that meaning.

Event type names (``RunStarted`` ...) are those of the seed (Entrenar lineage) plus ``PromotionRefused``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pot.errors import FormatError, UsageError, VerificationError
from pot.log.canonical import MAX_SAFE_INTEGER
from pot.log.records import check_count, check_name, check_object, check_timestamp


class CausalOrderError(VerificationError):
    """A lineage log whose Lamport stamps contradict the order in which it was written."""

    check = "causal-order"


def _check_time(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise UsageError(f"{name} must be >= 0, got {value}")
    if value > MAX_SAFE_INTEGER:
        raise UsageError(f"{name} {value} would leave the range JSON carries exactly (2**53-1)")
    return value


class LamportClock:
    """One node's logical clock. Thread-safe: the training loop and a background sender may share it.

    ``increment()`` before recording a local event, ``send()`` for a message (its return value travels with the
    message), ``merge(received)`` when a message arrives. Every call returns the new time, which is the stamp of
    the event being recorded.
    """

    __slots__ = ("_lock", "_node_id", "_time")

    def __init__(self, node_id: str, time: int = 0) -> None:
        try:
            self._node_id = check_name(node_id, "node_id")
        except FormatError as exc:
            raise UsageError(str(exc)) from exc
        self._time = _check_time(time, "time")
        self._lock = threading.Lock()

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def time(self) -> int:
        """The stamp of the last event this clock produced (0 before any)."""
        with self._lock:
            return self._time

    def increment(self) -> int:
        """A local event: advance by one and return the event's stamp."""
        with self._lock:
            _check_time(self._time + 1, "lamport time")
            self._time += 1
            return self._time

    def send(self) -> int:
        """A send is a local event; the returned stamp is what the message carries."""
        return self.increment()

    def merge(self, received: int) -> int:
        """A receive: ``time = max(time, received) + 1``; returns the stamp of the receiving event."""
        _check_time(received, "received lamport time")
        with self._lock:
            new = max(self._time, received) + 1
            _check_time(new, "lamport time")
            self._time = new
            return new

    def timestamp(self) -> LamportTimestamp:
        """The current time as a :class:`LamportTimestamp` of this node."""
        with self._lock:
            return LamportTimestamp(self._time, self._node_id)

    def __repr__(self) -> str:
        return f"LamportClock(node_id={self._node_id!r}, time={self.time})"


@dataclass(frozen=True, slots=True, order=True)
class LamportTimestamp:
    """An event's stamp. Sorting uses ``(time, node_id)``: a total order that extends the causal order, with the
    node id breaking ties between events that the clock cannot order (it is arbitrary, not causal)."""

    time: int
    node_id: str

    def happens_before(self, other: LamportTimestamp) -> bool:
        """``self.time < other.time``: *ordered before* under the Lamport clock.

        True proves only that ``other`` did not causally precede ``self``; it does not prove that ``self`` caused
        or was seen by ``other`` (they may be concurrent). False for equal times, so the relation is irreflexive
        and transitive.
        """
        return self.time < other.time

    def is_concurrent_with(self, other: LamportTimestamp) -> bool:
        """Neither has a lower time: equal times on different nodes.

        True does prove concurrency (a causal link would make the times differ). False proves nothing: a Lamport
        clock cannot tell two events with different times apart as causal or concurrent; only a vector clock can.
        """
        return self.time == other.time and self.node_id != other.node_id


class LineageEventType(StrEnum):
    """What a lineage event records. The values are the names written into logs."""

    RunStarted = "RunStarted"
    MetricLogged = "MetricLogged"
    ArtifactSaved = "ArtifactSaved"
    RunCompleted = "RunCompleted"
    ModelPromoted = "ModelPromoted"
    ModelRolledBack = "ModelRolledBack"
    PromotionRefused = "PromotionRefused"  # a promotion whose gate failed: recorded, never silently dropped


RunStarted = LineageEventType.RunStarted
MetricLogged = LineageEventType.MetricLogged
ArtifactSaved = LineageEventType.ArtifactSaved
RunCompleted = LineageEventType.RunCompleted
ModelPromoted = LineageEventType.ModelPromoted
ModelRolledBack = LineageEventType.ModelRolledBack
PromotionRefused = LineageEventType.PromotionRefused

EVENT_TYPES: frozenset[str] = frozenset(LineageEventType)


def _event_type(value: Any) -> LineageEventType:
    if isinstance(value, str) and value in EVENT_TYPES:
        return LineageEventType(value)
    raise UsageError(f"unknown lineage event type {value!r}; expected one of {', '.join(LineageEventType)}")


@dataclass(frozen=True, slots=True)
class LineageEvent:
    """One lineage event as a log holds it.

    The shape is checked on construction (a :class:`~pot.errors.FormatError` names the field); whether the stamps
    are consistent with the log's order, ``lamport >= 1`` included, is :func:`check_causal_order`'s job, so that a
    verifier reading a hostile log reports the causal failure rather than a parse error. ``data`` is normalised
    with :func:`pot.log.canonical.to_json_value`. ``seq`` is the event's index in its log; ``timestamp`` is the wall
    clock (RFC 3339, see :func:`pot.log.records.format_timestamp`) and plays no part in ordering.
    """

    event: str
    run_id: str
    lamport: int
    node_id: str
    seq: int
    timestamp: str
    data: dict[str, Any]
    model_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or self.event not in EVENT_TYPES:
            raise FormatError(f"unknown lineage event type {self.event!r}")
        object.__setattr__(self, "event", str(self.event))  # a plain str, whether given a str or the enum
        check_name(self.run_id, "run_id")
        check_count(self.lamport, "lamport")
        check_name(self.node_id, "node_id")
        check_count(self.seq, "seq")
        check_timestamp(self.timestamp, "timestamp")
        object.__setattr__(self, "data", check_object(self.data, "data"))
        check_name(self.model_id, "model_id")

    @property
    def stamp(self) -> LamportTimestamp:
        return LamportTimestamp(self.lamport, self.node_id)

    def order_key(self) -> tuple[int, str, int]:
        """``(lamport, node_id, seq)``: the total order :func:`events_in_order` sorts by."""
        return (self.lamport, self.node_id, self.seq)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "run_id": self.run_id, "lamport": self.lamport, "node_id": self.node_id,
                "seq": self.seq, "timestamp": self.timestamp, "data": self.data, "model_id": self.model_id}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> LineageEvent:
        """Parse :meth:`to_json`'s output; unknown or missing fields are a :class:`~pot.errors.FormatError`."""
        if not isinstance(value, Mapping):
            raise FormatError("a lineage event must be a JSON object")
        names = ("event", "run_id", "lamport", "node_id", "seq", "timestamp", "data", "model_id")
        unknown = set(value) - set(names)
        if unknown:
            raise FormatError(f"lineage event has unknown field(s): {', '.join(sorted(unknown))}")
        missing = [name for name in names if name not in value]
        if missing:
            raise FormatError(f"lineage event is missing {', '.join(missing)}")
        return cls(**{name: value[name] for name in names})

    @classmethod
    def from_record(cls, record: _EventLike) -> LineageEvent:
        """The lineage view of a logged event record (``pot.log.records`` kind ``event``), which must carry its causal
        fields: a record without ``node_id`` or ``lamport`` is a :class:`~pot.errors.UsageError`."""
        if record.node_id is None or record.lamport is None:
            raise UsageError(f"event record seq {record.seq} has no node_id/lamport stamp")
        return cls(event=record.event, run_id=record.run_id, lamport=record.lamport, node_id=record.node_id,
                   seq=record.seq, timestamp=record.timestamp, data=record.data, model_id=record.model_id)


class _EventLike(Protocol):
    """What :meth:`LineageEvent.from_record` reads; ``pot.log.records.EventRecord`` has it."""

    @property
    def event(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def lamport(self) -> int | None: ...
    @property
    def node_id(self) -> str | None: ...
    @property
    def seq(self) -> int: ...
    @property
    def timestamp(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def model_id(self) -> str: ...


# --- queries ---------------------------------------------------------------------------------------------------


def events_in_order(events: Iterable[LineageEvent]) -> list[LineageEvent]:
    """All events sorted by ``(lamport, node_id, seq)``: a total order consistent with causality."""
    return sorted(events, key=LineageEvent.order_key)


def events_for_run(events: Iterable[LineageEvent], run_id: str) -> list[LineageEvent]:
    """The run's events, in :func:`events_in_order` order."""
    return [e for e in events_in_order(events) if e.run_id == run_id]


def events_of_type(events: Iterable[LineageEvent], event: str) -> list[LineageEvent]:
    """Events of one type (a :class:`LineageEventType` or its name), in :func:`events_in_order` order."""
    wanted = _event_type(event)
    return [e for e in events_in_order(events) if e.event == wanted]


def latest_event_for_run(events: Iterable[LineageEvent], run_id: str) -> LineageEvent | None:
    """The run's last event in :func:`events_in_order` order, or None when the run has none."""
    return max((e for e in events if e.run_id == run_id), key=LineageEvent.order_key, default=None)


def run_precedes(events: Iterable[LineageEvent], run_a: str, run_b: str) -> bool:
    """Whether every event of ``run_a`` is ordered before the first event of ``run_b`` under the Lamport clock.

    That is ``max(lamport of run_a) < min(lamport of run_b)``, using :meth:`LamportTimestamp.happens_before`
    (strictly lower time; the node-id tie-break is not an order). As with ``happens_before``, True proves that no
    event of ``run_b`` causally preceded any event of ``run_a``; it does not prove that ``run_b`` saw ``run_a``.
    A run with no events is a :class:`~pot.errors.UsageError`, not a silent False.
    """
    last_a: int | None = None
    first_b: int | None = None
    for e in events:
        if e.run_id == run_a:
            last_a = e.lamport if last_a is None else max(last_a, e.lamport)
        if e.run_id == run_b:
            first_b = e.lamport if first_b is None else min(first_b, e.lamport)
    if last_a is None:
        raise UsageError(f"run {run_a!r} has no lineage events")
    if first_b is None:
        raise UsageError(f"run {run_b!r} has no lineage events")
    return last_a < first_b


# --- verification ------------------------------------------------------------------------------------------------


def check_causal_order(events_in_log_order: Iterable[LineageEvent]) -> None:
    """Check that a lineage log's Lamport stamps agree with the order it was written in; raise on the first fault.

    Checks, per event in log order (the message names the event's ``seq``):

    1. ``lamport >= 1`` (a clock ticks before its first event);
    2. a node's stamps strictly increase along the log (each event ticks its node's clock);
    3. an event recording a merge, ``data["merged_from"] == {"node_id": N, "lamport": L}``, has a stamp greater
       than ``L`` (``merge`` returns ``max(time, L) + 1``), and the event it names, node ``N``'s event stamped
       ``L``, is not written later in the log than the receipt. A named event absent from the log (a message
       from a node that writes another log) cannot be checked here and is accepted.

    Raises :class:`CausalOrderError`.
    """
    log = list(events_in_log_order)
    position: dict[tuple[str, int], int] = {}
    for index, e in enumerate(log):
        position.setdefault((e.node_id, e.lamport), index)
    last: dict[str, LineageEvent] = {}
    for index, e in enumerate(log):
        if e.lamport < 1:
            raise CausalOrderError(f"event seq {e.seq}: lamport {e.lamport} is below 1")
        previous = last.get(e.node_id)
        if previous is not None and e.lamport <= previous.lamport:
            raise CausalOrderError(
                f"event seq {e.seq}: node {e.node_id!r} lamport {e.lamport} does not increase on "
                f"{previous.lamport} (seq {previous.seq})")
        last[e.node_id] = e
        if "merged_from" in e.data:
            node, stamp = _merged_from(e)
            if e.lamport <= stamp:
                raise CausalOrderError(
                    f"event seq {e.seq}: lamport {e.lamport} is not above the merged stamp {stamp} from {node!r}")
            sent = position.get((node, stamp))
            if sent is not None and sent > index:
                raise CausalOrderError(
                    f"event seq {e.seq}: merges node {node!r} lamport {stamp}, which the log records later "
                    f"(seq {log[sent].seq})")


def _merged_from(e: LineageEvent) -> tuple[str, int]:
    merged = e.data["merged_from"]
    if (not isinstance(merged, Mapping) or set(merged) != {"node_id", "lamport"}
            or not isinstance(merged["node_id"], str) or isinstance(merged["lamport"], bool)
            or not isinstance(merged["lamport"], int)):
        raise CausalOrderError(f"event seq {e.seq}: merged_from must be {{\"node_id\": str, \"lamport\": int}}")
    return merged["node_id"], merged["lamport"]


__all__ = [
    "EVENT_TYPES",
    "ArtifactSaved",
    "CausalOrderError",
    "LamportClock",
    "LamportTimestamp",
    "LineageEvent",
    "LineageEventType",
    "MetricLogged",
    "ModelPromoted",
    "ModelRolledBack",
    "PromotionRefused",
    "RunCompleted",
    "RunStarted",
    "check_causal_order",
    "events_for_run",
    "events_in_order",
    "events_of_type",
    "latest_event_for_run",
    "run_precedes",
]
