"""Lamport clocks, lineage events and the causal-order check a verifier runs on a lineage log."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pot.errors import FormatError, UsageError, VerificationError
from pot.lineage.lamport import (
    EVENT_TYPES,
    CausalOrderError,
    LamportClock,
    LamportTimestamp,
    LineageEvent,
    LineageEventType,
    ModelPromoted,
    PromotionRefused,
    RunStarted,
    check_causal_order,
    events_for_run,
    events_in_order,
    events_of_type,
    latest_event_for_run,
    run_precedes,
)
from pot.log import records

TS = "2026-11-22T12:00:00.000001Z"


def event(seq: int, lamport: int, node: str = "n", run: str = "r", kind: str = "MetricLogged",
          **data: object) -> LineageEvent:
    return LineageEvent(event=kind, run_id=run, lamport=lamport, node_id=node, seq=seq, timestamp=TS,
                        data=dict(data), model_id="m")


def merged(seq: int, lamport: int, node: str, from_node: str, from_lamport: int, run: str = "r") -> LineageEvent:
    return event(seq, lamport, node, run, merged_from={"node_id": from_node, "lamport": from_lamport})


# --- the clock ---------------------------------------------------------------------------------------------------


def test_clock_follows_the_seed_example() -> None:
    node_a, node_b = LamportClock("node-a"), LamportClock("node-b")
    assert node_a.increment() == 1
    assert node_b.merge(node_a.time) == 2
    assert node_b.increment() == 3
    assert node_a.timestamp().happens_before(node_b.timestamp())
    assert not node_b.timestamp().happens_before(node_a.timestamp())


def test_send_is_a_local_event_and_merge_takes_the_max_plus_one() -> None:
    clock = LamportClock("a", time=5)
    assert clock.send() == 6
    assert clock.merge(3) == 7  # an older stamp still ticks the clock
    assert clock.merge(40) == 41
    assert clock.time == 41 and clock.node_id == "a"


@pytest.mark.parametrize(("args", "message"), [
    (("",), "node_id must be a non-empty string"),
    (("a", -1), "time must be >= 0, got -1"),
    (("a", True), "time must be an integer, got bool"),
    (("a", 2**53), "would leave the range JSON carries exactly"),
])
def test_clock_rejects_bad_arguments(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        LamportClock(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("received", "message"), [
    (-3, "received lamport time must be >= 0, got -3"),
    (1.5, "received lamport time must be an integer, got float"),
    ("7", "received lamport time must be an integer, got str"),
])
def test_merge_rejects_what_is_not_a_stamp(received: object, message: str) -> None:
    clock = LamportClock("a", 2)
    with pytest.raises(UsageError, match=message):
        clock.merge(received)  # type: ignore[arg-type]
    assert clock.time == 2


def test_clock_never_loses_a_tick_across_threads() -> None:
    clock = LamportClock("a")
    stamps: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [clock.increment() for _ in range(2000)]
        with lock:
            stamps.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(stamps) == list(range(1, 8001)) and clock.time == 8000


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**12), max_size=30))
def test_merge_is_monotonic_and_exceeds_what_it_received(start: int, received: list[int]) -> None:
    clock = LamportClock("a", start)
    before = clock.time
    for stamp in received:
        after = clock.merge(stamp)
        assert after > before and after > stamp and after == max(before, stamp) + 1
        before = after


# --- timestamps --------------------------------------------------------------------------------------------------

stamps = st.builds(LamportTimestamp, st.integers(0, 20), st.sampled_from(["a", "b", "c"]))


@given(stamps)
def test_happens_before_is_irreflexive(a: LamportTimestamp) -> None:
    assert not a.happens_before(a)
    assert not a.is_concurrent_with(a)


@given(stamps, stamps, stamps)
def test_happens_before_is_transitive_and_asymmetric(a: LamportTimestamp, b: LamportTimestamp,
                                                     c: LamportTimestamp) -> None:
    if a.happens_before(b) and b.happens_before(c):
        assert a.happens_before(c)
    assert not (a.happens_before(b) and b.happens_before(a))


@given(stamps, stamps)
def test_any_two_stamps_are_ordered_one_way_or_concurrent_or_one_node_at_one_time(
        a: LamportTimestamp, b: LamportTimestamp) -> None:
    outcomes = [a.happens_before(b), b.happens_before(a), a.is_concurrent_with(b), a == b]
    assert outcomes.count(True) == 1
    assert (a < b) or (b < a) or a == b  # the (time, node_id) total order


def test_seed_example_on_concurrency() -> None:
    ts1, ts2, ts3 = LamportTimestamp(5, "node-1"), LamportTimestamp(10, "node-1"), LamportTimestamp(7, "node-2")
    assert ts1.happens_before(ts2)
    assert not ts1.is_concurrent_with(ts3)  # different times: the clock cannot call them concurrent
    assert LamportTimestamp(7, "node-1").is_concurrent_with(ts3)
    assert sorted([ts3, LamportTimestamp(7, "node-1"), ts1]) == [ts1, LamportTimestamp(7, "node-1"), ts3]


# --- events and queries ------------------------------------------------------------------------------------------


def test_event_types_are_the_seed_names_plus_promotion_refused() -> None:
    assert set(EVENT_TYPES) == {"RunStarted", "MetricLogged", "ArtifactSaved", "RunCompleted", "ModelPromoted",
                                "ModelRolledBack", "PromotionRefused"}
    assert RunStarted == "RunStarted" and PromotionRefused is LineageEventType.PromotionRefused
    names = getattr(records, "EVENT_NAMES", None)
    if names is not None:  # the record kind that carries these events must accept the same names
        assert set(names) == set(EVENT_TYPES)


def test_event_round_trips_through_json_and_normalises_data() -> None:
    e = LineageEvent(event=ModelPromoted, run_id="r", lamport=3, node_id="n", seq=0, timestamp=TS,
                     data={"score": (0.5, float("nan"))}, model_id="m")
    assert type(e.event) is str and e.data == {"score": [0.5, "NaN"]}
    assert LineageEvent.from_json(e.to_json()) == e
    assert e.stamp == LamportTimestamp(3, "n") and e.order_key() == (3, "n", 0)


@pytest.mark.parametrize(("changes", "message"), [
    ({"event": "RunPaused"}, "unknown lineage event type 'RunPaused'"),
    ({"run_id": ""}, "run_id must be a non-empty string"),
    ({"lamport": -1}, "lamport must be >= 0, got -1"),
    ({"lamport": "3"}, "lamport must be an integer, got str"),
    ({"node_id": "a\nb"}, "node_id contains the control or invisible character U\\+000A"),
    ({"seq": 1.0}, "seq must be an integer, got float"),
    ({"timestamp": "yesterday"}, "timestamp 'yesterday' is not of the form"),
    ({"data": [1]}, "data must be a JSON object, got list"),
    ({"model_id": None}, "model_id must be a non-empty string"),
])
def test_event_shape_is_checked(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"event": "RunStarted", "run_id": "r", "lamport": 1, "node_id": "n", "seq": 0,
                                 "timestamp": TS, "data": {}, "model_id": "m"}
    values.update(changes)
    with pytest.raises(FormatError, match=message):
        LineageEvent(**values)  # type: ignore[arg-type]


def test_from_json_rejects_unknown_and_missing_fields() -> None:
    body = event(0, 1).to_json()
    with pytest.raises(FormatError, match="unknown field.*: extra"):
        LineageEvent.from_json({**body, "extra": 1})
    del body["data"]
    with pytest.raises(FormatError, match="lineage event is missing data"):
        LineageEvent.from_json(body)


def test_from_record_reads_an_event_record() -> None:
    @dataclass
    class Rec:
        event: str = "RunCompleted"
        run_id: str = "r"
        lamport: int | None = 4
        node_id: str | None = "n"
        seq: int = 7
        timestamp: str = TS
        data: dict[str, object] | None = None
        model_id: str = "m"

    e = LineageEvent.from_record(Rec(data={}))  # type: ignore[arg-type]
    assert (e.event, e.lamport, e.seq) == ("RunCompleted", 4, 7)
    with pytest.raises(UsageError, match="event record seq 7 has no node_id/lamport stamp"):
        LineageEvent.from_record(Rec(lamport=None, data={}))  # type: ignore[arg-type]


def lifecycle() -> list[LineageEvent]:
    # Log order is what two nodes wrote; trainer runs r1 then hands off to the promoter, which also starts r2.
    return [
        event(0, 1, "trainer", "r1", "RunStarted"),
        event(1, 2, "trainer", "r1", "MetricLogged"),
        event(2, 1, "promoter", "r2", "RunStarted"),
        event(3, 3, "trainer", "r1", "RunCompleted"),
        merged(4, 4, "promoter", "trainer", 3, run="r2"),
        event(5, 5, "promoter", "r2", "ModelPromoted"),
    ]


def test_queries_follow_lamport_order() -> None:
    log = lifecycle()
    assert [e.seq for e in events_in_order(log)] == [2, 0, 1, 3, 4, 5]  # lamport 1: "promoter" < "trainer"
    assert [e.seq for e in events_for_run(log, "r1")] == [0, 1, 3]
    assert [e.seq for e in events_for_run(log, "r2")] == [2, 4, 5]
    assert [e.seq for e in events_of_type(log, "RunStarted")] == [2, 0]
    assert [e.seq for e in events_of_type(log, ModelPromoted)] == [5]
    assert events_of_type(log, "ModelRolledBack") == []
    latest = latest_event_for_run(log, "r1")
    assert latest is not None and latest.seq == 3
    assert latest_event_for_run(log, "nope") is None
    with pytest.raises(UsageError, match="unknown lineage event type 'Paused'"):
        events_of_type(log, "Paused")


def test_run_precedes_needs_every_event_before_the_first() -> None:
    a = [event(0, 1, "x", "a"), event(1, 2, "x", "a")]
    assert run_precedes(a + [event(2, 3, "y", "b")], "a", "b")
    assert not run_precedes(a + [event(2, 2, "y", "b")], "a", "b")  # equal time: concurrent, not before
    assert not run_precedes(a + [event(2, 3, "y", "b")], "b", "a")
    assert not run_precedes(lifecycle(), "r1", "r2")  # r2 started at lamport 1, concurrently with r1
    with pytest.raises(UsageError, match="run 'ghost' has no lineage events"):
        run_precedes(a, "a", "ghost")
    with pytest.raises(UsageError, match="run 'ghost' has no lineage events"):
        run_precedes(a, "ghost", "a")


# --- check_causal_order ------------------------------------------------------------------------------------------


def test_a_well_formed_log_passes() -> None:
    check_causal_order(lifecycle())
    check_causal_order([])
    check_causal_order([merged(0, 9, "b", "elsewhere", 8)])  # the sender writes another log: not checkable here


@pytest.mark.parametrize(("log", "message"), [
    ([event(0, 0)], "event seq 0: lamport 0 is below 1"),
    ([event(0, 2), event(1, 2)], r"event seq 1: node 'n' lamport 2 does not increase on 2 \(seq 0\)"),
    ([event(0, 3), event(1, 1, "o"), event(2, 2)], r"event seq 2: node 'n' lamport 2 does not increase on 3"),
    ([event(0, 1, "a"), merged(1, 1, "b", "a", 1)], "event seq 1: lamport 1 is not above the merged stamp 1"),
    ([merged(0, 2, "b", "a", 1), event(1, 1, "a")],
     r"event seq 0: merges node 'a' lamport 1, which the log records later \(seq 1\)"),
    ([event(0, 2, merged_from={"node_id": "a"})], "event seq 0: merged_from must be"),
    ([event(0, 2, merged_from={"node_id": "a", "lamport": True})], "event seq 0: merged_from must be"),
    ([event(0, 2, merged_from="a@1")], "event seq 0: merged_from must be"),
])
def test_faulty_logs_are_rejected_naming_the_seq(log: list[LineageEvent], message: str) -> None:
    with pytest.raises(CausalOrderError, match=message) as caught:
        check_causal_order(log)
    assert isinstance(caught.value, VerificationError) and caught.value.check == "causal-order"
    assert "\n" not in str(caught.value)


# A simulated exchange: nodes record local events, send messages, and receive them in any order the network
# chooses. Each step is (node, action, choice); the log is the order in which events happened.
NODES = ["n0", "n1", "n2", "n3"]
steps = st.lists(st.tuples(st.integers(0, len(NODES) - 1), st.sampled_from(["local", "send", "receive"]),
                           st.integers(0, 1000)), min_size=1, max_size=60)


def simulate(plan: list[tuple[int, str, int]]) -> tuple[list[LineageEvent], list[tuple[int, int]]]:
    """The log, and (send position, receive position) for every message delivered."""
    clocks = [LamportClock(name) for name in NODES]
    in_flight: list[list[tuple[str, int, int]]] = [[] for _ in NODES]  # per receiver: (sender, stamp, position)
    log: list[LineageEvent] = []
    deliveries: list[tuple[int, int]] = []
    for node, action, choice in plan:
        clock = clocks[node]
        if action == "receive" and in_flight[node]:
            sender, stamp, sent_at = in_flight[node].pop(choice % len(in_flight[node]))
            deliveries.append((sent_at, len(log)))
            log.append(merged(len(log), clock.merge(stamp), NODES[node], sender, stamp))
        elif action == "send":
            stamp = clock.send()
            in_flight[choice % len(NODES)].append((NODES[node], stamp, len(log)))
            log.append(event(len(log), stamp, NODES[node], kind="ArtifactSaved"))
        else:
            log.append(event(len(log), clock.increment(), NODES[node]))
    return log, deliveries


@settings(max_examples=300)
@given(steps)
def test_every_simulated_exchange_is_accepted(plan: list[tuple[int, str, int]]) -> None:
    log, _ = simulate(plan)
    check_causal_order(log)
    # The clock condition: a message's receipt is ordered after its send.
    for e in log:
        if "merged_from" in e.data:
            sent = LamportTimestamp(e.data["merged_from"]["lamport"], e.data["merged_from"]["node_id"])
            assert sent.happens_before(e.stamp)


@settings(max_examples=300)
@given(steps, st.integers(0, 10**6))
def test_reordering_two_events_of_one_node_is_rejected(plan: list[tuple[int, str, int]], pick: int) -> None:
    log, _ = simulate(plan)
    by_node: dict[str, list[int]] = {}
    for index, e in enumerate(log):
        by_node.setdefault(e.node_id, []).append(index)
    pairs = [(p[i], p[j]) for p in by_node.values() for i in range(len(p)) for j in range(i + 1, len(p))]
    if not pairs:
        return
    i, j = pairs[pick % len(pairs)]
    log[i], log[j] = log[j], log[i]
    with pytest.raises(CausalOrderError):
        check_causal_order(log)


@settings(max_examples=300)
@given(steps, st.integers(0, 10**6))
def test_a_receipt_moved_before_its_send_is_rejected(plan: list[tuple[int, str, int]], pick: int) -> None:
    log, deliveries = simulate(plan)
    if not deliveries:
        return
    sent_at, received_at = deliveries[pick % len(deliveries)]
    receipt = log.pop(received_at)
    log.insert(sent_at, receipt)
    with pytest.raises(CausalOrderError):
        check_causal_order(log)


@settings(max_examples=200)
@given(steps, st.integers(0, 10**6), st.integers(1, 3))
def test_lowering_a_receipts_stamp_to_the_senders_is_rejected(plan: list[tuple[int, str, int]], pick: int,
                                                               lower: int) -> None:
    log, deliveries = simulate(plan)
    if not deliveries:
        return
    _, received_at = deliveries[pick % len(deliveries)]
    e = log[received_at]
    sent = e.data["merged_from"]["lamport"]
    log[received_at] = merged(e.seq, max(0, sent - lower + 1), e.node_id, e.data["merged_from"]["node_id"], sent)
    with pytest.raises(CausalOrderError):
        check_causal_order(log)


def test_a_shuffled_log_keeps_its_lamport_order() -> None:
    log, _ = simulate([(i % 4, ["local", "send", "receive"][i % 3], i * 7) for i in range(200)])
    shuffled = log[:]
    random.Random(4).shuffle(shuffled)
    assert events_in_order(shuffled) == events_in_order(log)
