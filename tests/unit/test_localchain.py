"""The local chain: equivocation is refused everywhere, truncation is noticed, damage never costs a record.

Every attack here is done for real: the store is the real SQLite file, edited as an attacker would (dropping the
append-only triggers); heads are re-signed by a real recorder with the store's real Ed25519 key; the chain file is
a real file that is cut, emptied, deleted, replaced, damaged or made unwritable.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof
from pot.anchors.localchain import LocalChain, entry_hash
from pot.cli import main
from pot.errors import AnchorMismatch, AnchorReceiptError, AnchorUnavailable, FormatError, StoreError, VerificationError
from pot.log.canonical import DOMAIN_LOCAL_CHAIN_ENTRY
from pot.log.heads import TreeHead
from pot.log.keys import SigningKey
from pot.log.records import leaf_hash
from pot.log.store import KEY_NAME, LOCAL_CHAIN_NAME, Store

from ..support.readonly import read_only
from .conftest import digest

ROOT = Path(__file__).resolve().parents[2]
Make = Callable[..., ProvenanceRecorder]


# --- helpers ---------------------------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], store: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--store", str(store), *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


def checkpoint(capsys: pytest.CaptureFixture[str], store: Path, epoch: int, *flags: str) -> tuple[int, str, str]:
    return cli(capsys, store, *flags, "checkpoint", "--model-hash", digest(epoch), "--epoch", str(epoch),
               "--metrics", '{"loss": 0.5}', "--model-id", "m")


def record(recorder: ProvenanceRecorder, n: int, model_id: str = "m", start: int = 0) -> list[str]:
    return [recorder.record_training_checkpoint(model_hash=digest(i), metrics={"loss": 1.0 / (i + 1)}, epoch=i,
                                                model_id=model_id) or "" for i in range(start, start + n)]


def rewrite_record(db: Path, model_id: str, seq: int, metrics: dict[str, float]) -> None:
    """The attack: change a stored record's metrics, then drop the model's heads and receipts so that the
    recorder signs the rewritten log afresh. The triggers refuse UPDATE and DELETE, so drop them first."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        (raw,) = conn.execute("SELECT body FROM records WHERE model_id = ? AND seq = ?", (model_id, seq)).fetchone()
        body = {**json.loads(raw), "metrics": metrics}
        leaf = leaf_hash(body)
        conn.execute("UPDATE records SET body = ?, leaf = ?, record_id = ? WHERE model_id = ? AND seq = ?",
                     (json.dumps(body, separators=(",", ":")), leaf, leaf.hex(), model_id, seq))
        conn.execute("DELETE FROM anchors WHERE model_id = ?", (model_id,))
        conn.execute("DELETE FROM heads WHERE model_id = ?", (model_id,))
    finally:
        conn.close()


def forge_append(path: Path, head: TreeHead, key: SigningKey) -> None:
    """Append a well-linked, well-signed entry without any of pot's checks: what the key's holder can always write
    (by hand, or with a pot that did not refuse equivocation)."""
    lines = path.read_bytes().splitlines()
    last = json.loads(lines[-1])["entry"] if lines else None
    entry = {"index": len(lines), "prev_entry": None if last is None else entry_hash(last),
             "model_id": head.model_id, "tree_size": head.tree_size, "root_hash": head.root_hash,
             "head_hash": head.head_hash, "timestamp": head.timestamp, "key_id": key.key_id}
    line = {"entry": entry, "signature": key.sign(DOMAIN_LOCAL_CHAIN_ENTRY, entry)}
    with path.open("ab") as handle:
        handle.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")


def make_head(key: SigningKey, model_id: str, size: int, root: int = 0) -> TreeHead:
    return TreeHead(model_id=model_id, tree_size=size, root_hash=f"{root or size:064x}", prev_head=None,
                    timestamp="2026-11-22T12:00:00.000000Z", key_id=key.key_id)


def store_key(store: Path) -> SigningKey:
    return SigningKey.load(store / KEY_NAME, None)


def local_receipt_sizes(store: Store, model_id: str) -> list[int]:
    sizes = {h.head.head_hash: h.head.tree_size for h in store.heads(model_id)}
    return sorted(sizes[r.head_hash] for r in store.receipts(model_id) if r.backend == "localchain")


@pytest.fixture
def cli_store(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store made by `pot init`, with three checkpoints of model m, each with its own anchored head."""
    monkeypatch.delenv("POT_HOME", raising=False)
    monkeypatch.delenv("POT_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("POT_KEY_FILE", raising=False)
    store = tmp_path / "store"
    assert cli(capsys, store, "init")[0] == 0
    for epoch in range(3):
        code, _, err = checkpoint(capsys, store, epoch)
        assert code == 0 and err == ""
    assert len((store / LOCAL_CHAIN_NAME).read_bytes().splitlines()) == 3
    return store


# --- equivocation ----------------------------------------------------------------------------------------------


def test_a_rewritten_and_resigned_log_is_refused_everywhere(make_recorder: Make, store_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    honest_recorder = make_recorder()
    record(honest_recorder, 3)
    honest = honest_recorder.generate_proof_of_training("m")
    key = honest_recorder.key
    honest_recorder.close()
    chain = store_dir / LOCAL_CHAIN_NAME
    honest_path = tmp_path / "honest.json"
    honest.save(honest_path)
    verify_proof(honest, trusted_key=key.public, local_chain=chain)  # before the attack: all is well
    before = chain.read_bytes()

    rewrite_record(store_dir / "pot.db", "m", 1, {"loss": 0.001})  # a better loss than was measured
    attacker = make_recorder()
    with caplog.at_level(logging.ERROR, logger="pot"):
        heads = attacker.flush("m")  # the recorder signs the rewritten log ...
    assert [h.head.tree_size for h in heads] == [3]
    assert heads[0].head.root_hash != honest.tree_heads[-1].head.root_hash
    # ... but refuses to anchor a second head of size 3 next to the honest one, and says so.
    failure = attacker.local_anchor_failures["m"]
    assert isinstance(failure, AnchorMismatch) and "equivocation" in str(failure)
    assert chain.read_bytes() == before
    assert local_receipt_sizes(attacker.store, "m") == []
    logged = [r.getMessage() for r in caplog.records if "equivocation" in r.getMessage()]
    assert logged and "signed and stored but the localchain anchor refused it" in logged[0] and "pot test" in logged[0]
    forged = attacker.generate_proof_of_training("m")
    attacker.close()
    forged_path = tmp_path / "forged.json"
    forged.save(forged_path)

    # On its own the forged proof is self-consistent and signed by the right key: that is the point of the attack.
    verify_proof(forged, trusted_key=key.public)
    # The local chain holds a different head of the same size: verification with it fails.
    with pytest.raises(VerificationError) as info:
        verify_proof(forged, trusted_key=key.public, local_chain=chain)
    failed = [c for c in info.value.report.checks if not c.passed]
    assert [c.name for c in failed] == ["local-chain"] and "equivocation" in failed[0].detail
    code, out, _ = cli(capsys, store_dir, "verify", "--proof", str(forged_path), "--trusted-key", key.public.hex,
                       "--local-chain", str(chain))
    assert code == 1 and "equivocation" in out and "FAILED" in out
    # pot test compares the file with the store's heads and records.
    code, out, _ = cli(capsys, store_dir, "test")
    assert code == 3 and "FAIL local chain" in out and "equivocation" in out

    # The key's holder writes the second head into the file anyway: now the file itself shows two heads.
    forge_append(chain, forged.tree_heads[-1].head, key)
    with pytest.raises(AnchorReceiptError, match=r"equivocation: lines 1 and 2 anchor two different heads of size 3"):
        LocalChain(chain).audit(key.public)
    code, out, _ = cli(capsys, store_dir, "test")
    assert code == 3 and "equivocation: lines 1 and 2" in out
    # Even the honest proof no longer verifies against this file: it shows the signer said two things.
    code, out, _ = cli(capsys, store_dir, "verify", "--proof", str(honest_path), "--local-chain", str(chain))
    assert code == 1 and "equivocation" in out
    # And the recorder still refuses to anchor the rewritten head.
    with caplog.at_level(logging.ERROR, logger="pot"):
        again = make_recorder()
        again.flush("m")
        assert "equivocation" in str(again.local_anchor_failures["m"])


def test_verify_checks_every_anchored_size_a_full_proof_covers(make_recorder: Make, store_dir: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A rewritten log re-signed at sizes the file never anchored still meets the file: the records give the
    root of every prefix, so an anchored size the forged proof has no head for is checked too."""
    honest = make_recorder()
    record(honest, 2)
    honest.flush()
    record(honest, 1, start=2)
    honest.close()  # heads of size 2 and 3 anchored
    rewrite_record(store_dir / "pot.db", "m", 0, {"loss": 0.0})
    attacker = make_recorder(batch_size=100)
    record(attacker, 1, start=3)
    forged = attacker.generate_proof_of_training("m")
    assert [h.head.tree_size for h in forged.tree_heads] == [4]  # no size the file holds
    assert attacker.local_anchor_failures == {}  # nothing to refuse at size 4
    key = attacker.key
    attacker.close()
    chain = store_dir / LOCAL_CHAIN_NAME
    with pytest.raises(VerificationError) as info:
        verify_proof(forged, trusted_key=key.public, local_chain=chain)
    detail = next(c.detail for c in info.value.report.checks if c.name == "local-chain")
    assert "equivocation" in detail and "first 2 records" in detail
    code, out, _ = cli(capsys, store_dir, "test")
    assert code == 3 and "for the first 2 records of model 'm'" in out


def test_append_is_idempotent_and_refuses_a_second_head_for_one_size(tmp_path: Path, key: SigningKey) -> None:
    chain = LocalChain(tmp_path / "chain.jsonl")
    head = make_head(key, "m", 5)
    first = chain.append(head, key)
    assert chain.append(head, key) == first  # the same head again: its entry, nothing written
    assert LocalChain(chain.path).append(head, key) == first  # also for a fresh reader of the file
    assert chain.find(head) == first
    before = chain.path.read_bytes()
    with pytest.raises(AnchorMismatch, match=r"equivocation: .* already anchors a different head of size 5 for "
                                             r"model 'm' \(line 1"):
        chain.append(make_head(key, "m", 5, root=99), key)
    assert chain.path.read_bytes() == before
    chain.append(make_head(key, "other", 5, root=99), key)  # another model's head of that size is no conflict
    assert chain.verify(key.public) == 2


def test_the_same_head_twice_is_not_equivocation(tmp_path: Path, key: SigningKey) -> None:
    """Two processes once could both anchor one head; the file then holds it twice, which says nothing false."""
    path = tmp_path / "chain.jsonl"
    head = make_head(key, "m", 1)
    LocalChain(path).append(head, key)
    forge_append(path, head, key)
    audit = LocalChain(path).audit(key.public)
    assert audit.count == 2 and audit.heads[("m", 1)].index == 0


# --- truncation ------------------------------------------------------------------------------------------------


def _delete(chain: Path) -> str:
    chain.unlink()
    return "missing, but this store has anchored 3 entries"


def _empty(chain: Path) -> str:
    chain.write_bytes(b"")
    return "is empty, but this store has anchored entry 2"


def _cut_at_a_line(chain: Path) -> str:
    chain.write_bytes(b"".join(chain.read_bytes().splitlines(keepends=True)[:2]))
    return "holds only 2 entries, but this store has anchored entry 2"


def _cut_mid_line(chain: Path) -> str:
    data = chain.read_bytes()
    chain.write_bytes(data[:len(data) - 100])  # looks like a writer that died mid-line
    return "holds only 2 entries, but this store has anchored entry 2"


def _replace(chain: Path) -> str:
    key = store_key(chain.parent)
    chain.unlink()
    for size in range(1, 5):  # a new chain, as long or longer, by the same key
        LocalChain(chain).append(make_head(key, "m", size, root=1000 + size), key)
    return "line 3 is not the entry this store anchored there"


@pytest.mark.parametrize("truncate", [_delete, _empty, _cut_at_a_line, _cut_mid_line, _replace],
                         ids=["deleted", "emptied", "cut at a line", "cut mid-line", "replaced"])
def test_a_truncated_chain_is_noticed_not_restarted(cli_store: Path, capsys: pytest.CaptureFixture[str],
                                                    truncate: Callable[[Path], str]) -> None:
    chain = cli_store / LOCAL_CHAIN_NAME
    original = chain.read_bytes()
    with Store(cli_store) as store:
        tip = store.local_chain_tip()
    assert tip is not None and tip[0] == 2
    expected = truncate(chain)
    mutated = chain.read_bytes() if chain.exists() else None

    code, out, _ = cli(capsys, cli_store, "test")
    assert code == 3 and "FAIL local chain" in out and expected in out
    code, out, err = checkpoint(capsys, cli_store, 3)
    assert code == 0 and len(out.strip()) == 64  # the record is stored: a retry must not record it again
    assert len(err.strip().splitlines()) == 1 and "is stored" in err and "pot test" in err
    assert (chain.read_bytes() if chain.exists() else None) == mutated  # nothing appended, nothing recreated
    code, out, _ = cli(capsys, cli_store, "--json", "history", "--model-id", "m")
    assert [r["epoch"] for r in json.loads(out)] == [0, 1, 2, 3]

    chain.write_bytes(original)  # restored from a backup
    assert cli(capsys, cli_store, "test")[0] == 0
    code, _, err = cli(capsys, cli_store, "proof", "--model-id", "m", "--output", str(cli_store.parent / "p.json"))
    assert code == 0 and err == ""  # the proof's flush anchors the newest head, now that the file is back
    with Store(cli_store) as store:
        assert local_receipt_sizes(store, "m") == [1, 2, 3, 4]
        assert store.local_chain_tip() == (3, entry_hash(json.loads(chain.read_bytes().splitlines()[3])["entry"]))
    code, out, _ = cli(capsys, cli_store, "test")
    assert code == 0 and "still holds entry 3" in out


def test_a_chain_longer_than_the_remembered_tip_is_fine(cli_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A crash between the append and the store's update leaves the file ahead of the tip: nothing is wrong."""
    chain = cli_store / LOCAL_CHAIN_NAME
    key = store_key(cli_store)
    LocalChain(chain).append(make_head(key, "other", 1), key)  # appended, tip not updated
    with Store(cli_store) as store:
        assert store.local_chain_tip() is not None and store.local_chain_tip()[0] == 2  # type: ignore[index]
    code, out, _ = cli(capsys, cli_store, "test")
    assert code == 0 and "4 entries" in out and "still holds entry 2" in out
    code, _, err = checkpoint(capsys, cli_store, 3)
    assert code == 0 and err == ""
    with Store(cli_store) as store:
        assert store.local_chain_tip()[0] == 4  # type: ignore[index]


def test_the_tip_only_moves_forward(store_dir: Path) -> None:
    store = Store(store_dir, create=True)
    assert store.local_chain_tip() is None
    store.advance_local_chain_tip(5, "a" * 64)
    store.advance_local_chain_tip(3, "b" * 64)  # a slower process reporting an earlier entry
    store.advance_local_chain_tip(5, "c" * 64)
    assert store.local_chain_tip() == (5, "a" * 64)
    store.advance_local_chain_tip(6, "d" * 64)
    assert store.local_chain_tip() == (6, "d" * 64)
    store.set_setting("local_chain_tip", "not json")
    with pytest.raises(StoreError, match="remembered local chain tip .* is malformed"):
        store.local_chain_tip()
    store.close()


def test_tip_check_on_append(tmp_path: Path, key: SigningKey) -> None:
    from pot.anchors.localchain import Tip

    chain = LocalChain(tmp_path / "chain.jsonl")
    entries = [chain.append(make_head(key, "m", size), key)["entry"] for size in (1, 2)]
    tip = Tip(1, entry_hash(entries[1]))
    chain.append(make_head(key, "m", 3), key, expect=tip)
    with pytest.raises(AnchorMismatch, match="line 1 is not the entry this store anchored there"):
        chain.append(make_head(key, "m", 4), key, expect=Tip(0, entry_hash(entries[1])))
    chain.path.unlink()
    with pytest.raises(AnchorMismatch, match="is missing, but this store has anchored 2 entries"):
        chain.append(make_head(key, "m", 4), key, expect=tip)
    assert not chain.path.exists()  # not recreated: a new file would start a new chain at index 0


# --- damage ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _garbage_at_end(chain: Path) -> Iterator[str]:
    with chain.open("ab") as handle:
        handle.write(b"garbage\n")
    yield "line 4 is not valid JSON"


@contextlib.contextmanager
def _garbage_in_the_middle(chain: Path) -> Iterator[str]:
    lines = chain.read_bytes().splitlines(keepends=True)
    chain.write_bytes(lines[0] + b"}{\n" + b"".join(lines[1:]))
    yield "line 2 is not valid JSON"


@contextlib.contextmanager
def _json_not_an_entry(chain: Path) -> Iterator[str]:
    with chain.open("ab") as handle:
        handle.write(b'{"hello": "world"}\n')
    yield "line 4 is JSON but not a local chain entry"


@contextlib.contextmanager
def _entry_missing_a_field(chain: Path) -> Iterator[str]:
    line = json.loads(chain.read_bytes().splitlines()[-1])
    del line["entry"]["key_id"]
    with chain.open("ab") as handle:
        handle.write(json.dumps(line).encode() + b"\n")
    yield "line 4 is JSON but not a local chain entry: a local chain entry must have exactly the fields"


@contextlib.contextmanager
def _line_repeated(chain: Path) -> Iterator[str]:
    with chain.open("ab") as handle:
        handle.write(chain.read_bytes().splitlines(keepends=True)[-1])
    yield "line 4 holds entry 2, not 3"


@contextlib.contextmanager
def _garbage_without_newline(chain: Path) -> Iterator[str]:
    with chain.open("ab") as handle:
        handle.write(b"garbage")
    yield "line 4 is not a local chain entry (no newline at its end"


@contextlib.contextmanager
def _a_directory(chain: Path) -> Iterator[str]:
    data = chain.read_bytes()
    chain.unlink()
    chain.mkdir()
    yield "is a directory, not a file"
    chain.rmdir()
    chain.write_bytes(data)


@contextlib.contextmanager
def _not_writable(chain: Path) -> Iterator[str]:
    with read_only(chain):
        yield "cannot be written"


DAMAGE = [_garbage_at_end, _garbage_in_the_middle, _json_not_an_entry, _entry_missing_a_field, _line_repeated,
          _garbage_without_newline, _a_directory, _not_writable]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda d: d.__name__.strip("_").replace("_", " "))
def test_a_damaged_chain_never_costs_a_record(cli_store: Path, capsys: pytest.CaptureFixture[str],
                                              damage: Callable[[Path], contextlib.AbstractContextManager[str]]
                                              ) -> None:
    chain = cli_store / LOCAL_CHAIN_NAME
    original = chain.read_bytes()
    with damage(chain) as expected:
        code, out, err = checkpoint(capsys, cli_store, 3)
        assert code == 0 and len(out.strip()) == 64
        assert len(err.strip().splitlines()) == 1
        assert "is stored, but its tree head could not be anchored on the local chain" in err and "pot test" in err
        code, out, err = checkpoint(capsys, cli_store, 4, "--json")
        result = json.loads(out)
        assert code == 0 and result["stored"] is True and result["head_anchored_locally"] is False
        assert "could not be anchored" in result["warning"] and len(err.strip().splitlines()) == 1
        code, out, _ = cli(capsys, cli_store, "test")
        assert code == 3 and "FAIL local chain" in out and expected in out, out
        code, out, _ = cli(capsys, cli_store, "--json", "history", "--model-id", "m")
        assert [r["epoch"] for r in json.loads(out)] == [0, 1, 2, 3, 4]
        with Store(cli_store) as store:
            assert [h.head.tree_size for h in store.heads("m")] == [1, 2, 3, 4, 5]  # signed and stored
            assert local_receipt_sizes(store, "m") == [1, 2, 3]  # ... but not anchored
        if chain.is_file() and chain.read_bytes() != original:
            chain.write_bytes(original)  # repaired (the directory and the read-only file are repaired on exit)
    code, out, err = checkpoint(capsys, cli_store, 5, "--json")
    assert code == 0 and json.loads(out)["head_anchored_locally"] is True and err == ""
    assert cli(capsys, cli_store, "test")[0] == 0
    with Store(cli_store) as store:
        assert local_receipt_sizes(store, "m") == [1, 2, 3, 6]


def test_a_record_whose_head_cannot_be_signed_is_still_reported_stored(cli_store: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Not the local chain, but the same promise: once the record is stored the verb succeeds (a retry would
    record it twice), and says in one line what is left to do."""
    conn = sqlite3.connect(cli_store / "pot.db", isolation_level=None)
    conn.execute("CREATE TRIGGER refuse_heads BEFORE INSERT ON heads BEGIN SELECT RAISE(ABORT, 'disk is full'); END")
    code, out, err = checkpoint(capsys, cli_store, 3, "--json")
    result = json.loads(out)
    assert code == 0 and result["stored"] is True and result["head_anchored_locally"] is False
    assert "could not be signed" in result["warning"] and "disk is full" in result["warning"]
    assert len(err.strip().splitlines()) == 1 and "is stored" in err
    code, out, _ = cli(capsys, cli_store, "--json", "history", "--model-id", "m")
    assert [r["epoch"] for r in json.loads(out)] == [0, 1, 2, 3]
    conn.execute("DROP TRIGGER refuse_heads")
    conn.close()
    code, out, err = checkpoint(capsys, cli_store, 4, "--json")
    assert code == 0 and err == "" and json.loads(out) == {"id": json.loads(out)["id"], "stored": True,
                                                            "head_anchored_locally": True, "warning": None}
    with Store(cli_store) as store:
        assert [h.head.tree_size for h in store.heads("m")] == [1, 2, 3, 5]


def test_the_recorder_keeps_records_and_heads_when_the_chain_is_damaged(make_recorder: Make, store_dir: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    recorder = make_recorder()
    record(recorder, 2)
    recorder.flush()
    chain = store_dir / LOCAL_CHAIN_NAME
    original = chain.read_bytes()
    chain.write_bytes(original + b"garbage\n")
    with caplog.at_level(logging.WARNING, logger="pot"):
        ids = record(recorder, 2, start=2)
        heads = recorder.flush()  # does not raise: the records and the head are stored
        assert all(len(i) == 64 for i in ids) and [h.head.tree_size for h in heads] == [4]
        record(recorder, 2, start=4)
        recorder.flush()  # the same problem again (head 6): not logged again
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert "head 4 of 'm' is signed and stored but the localchain anchor refused it" in problems[0].getMessage()
    assert "line 2 is not valid JSON" in problems[0].getMessage() and "pot test" in problems[0].getMessage()
    failure = recorder.local_anchor_failures["m"]
    assert isinstance(failure, AnchorUnavailable) and "line 2" in str(failure)
    assert local_receipt_sizes(recorder.store, "m") == [2]
    assert [h.head.tree_size for h in recorder.store.heads("m")] == [2, 4, 6]  # signed and stored

    chain.write_bytes(original)  # repaired
    assert recorder.flush() == []  # nothing new to sign ...
    assert local_receipt_sizes(recorder.store, "m") == [2, 6]  # ... but the newest head is anchored now
    assert recorder.local_anchor_failures == {}
    proof = recorder.generate_proof_of_training("m")
    verify_proof(proof, trusted_key=recorder.public_key, local_chain=chain)

    chain.write_bytes(original + b"garbage\n")
    with ProvenanceRecorder(recorder.config) as again:  # context exit does not raise either
        record(again, 1, start=6)
    assert again.local_anchor_failures.keys() == {"m"}
    assert [h.head.tree_size for h in recorder.store.heads("m")] == [2, 4, 6, 7]


def test_a_line_cut_by_a_crash_is_dropped_by_the_next_append(cli_store: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    chain = cli_store / LOCAL_CHAIN_NAME
    lines = chain.read_bytes().splitlines(keepends=True)
    unfinished = lines[2][:70]  # entry 2 as a writer that died 70 bytes in left it (never acknowledged)
    chain.write_bytes(b"".join(lines[:2]) + lines[2] + unfinished.replace(b'"index":2', b'"index":3'))
    code, out, _ = cli(capsys, cli_store, "test")
    assert code == 0 and "an incomplete last line" in out
    code, _, err = checkpoint(capsys, cli_store, 3)
    assert code == 0 and err == ""
    data = chain.read_bytes()
    assert data.endswith(b"\n") and len(data.splitlines()) == 4
    assert LocalChain(chain).verify(store_key(cli_store).public) == 4


HOSTILE_LINES = {
    "a JSON array": b"[1, 2]",
    "a JSON string": b'"entry"',
    "an empty object": b"{}",
    "an empty entry": b'{"entry": {}, "signature": "x"}',
    "a signature that is not a string": None,  # built from a real line below
    "an extra field": None,
    "a duplicate key": None,
    "NaN for a size": None,
    "deep nesting": b"[" * 100_000,
    "not UTF-8": b"\xff\xfe\xfd",
    "an empty line": b"",
    "blanks": b"   ",
    "a huge line": b'{"entry": "' + b"x" * 100_000 + b'"}',
}


def _hostile(name: str, good: bytes) -> bytes:
    line = HOSTILE_LINES[name]
    if line is not None:
        return line
    value = json.loads(good)
    if name == "a signature that is not a string":
        value["signature"] = 5
    elif name == "an extra field":
        value["note"] = "hi"
    elif name == "NaN for a size":
        return json.dumps(value).replace('"tree_size": 1', '"tree_size": NaN').encode()
    else:
        return json.dumps(value).replace('"signature"', '"signature": "x", "signature"', 1).encode()
    return json.dumps(value).encode()


@pytest.mark.parametrize("name", list(HOSTILE_LINES))
def test_hostile_lines_are_named_and_refused(tmp_path: Path, key: SigningKey, name: str) -> None:
    chain = LocalChain(tmp_path / "chain.jsonl")
    chain.append(make_head(key, "m", 1), key)
    good = chain.path.read_bytes()
    chain.path.write_bytes(good + _hostile(name, good.strip()) + b"\n" + good)
    damaged = chain.path.read_bytes()
    with pytest.raises(FormatError, match=r"^line 2 "):
        LocalChain(chain.path).audit(key.public)
    with pytest.raises(AnchorUnavailable, match=r"is damaged: line 2 "):
        LocalChain(chain.path).append(make_head(key, "m", 2), key)
    assert chain.path.read_bytes() == damaged


# --- several processes -----------------------------------------------------------------------------------------

_APPENDER = """
import sys
from pathlib import Path
from pot.anchors.localchain import LocalChainAnchor
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import SigningKey
from pot.log.store import Store

store_dir, model_id, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
key = SigningKey.from_seed(bytes(range(32)))
with Store(store_dir) as store:
    anchor = LocalChainAnchor(store_dir / "localchain.jsonl", key, tips=store)
    for size in range(1, count + 1):
        head = TreeHead(model_id=model_id, tree_size=size, root_hash=f"{size:064x}", prev_head=None,
                        timestamp="2026-11-22T12:00:00.000000Z", key_id=key.key_id)
        anchor.anchor(SignedTreeHead.sign(head, key))
"""


def test_processes_appending_at_once_keep_one_chain_and_its_tip(store_dir: Path, key: SigningKey) -> None:
    from pot.anchors.localchain import Tip

    Store(store_dir, create=True).close()
    workers = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(store_dir), f"model-{n}", "40"], cwd=ROOT)
               for n in range(4)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    chain = LocalChain(store_dir / LOCAL_CHAIN_NAME)
    with Store(store_dir) as store:
        tip = store.local_chain_tip()
    audit = chain.audit(key.public, tip=Tip(*tip) if tip else None)
    assert audit.count == 160 and len(audit.heads) == 160
    assert tip == (159, audit.entry_hashes[159])  # the newest entry, whichever process wrote it last


def test_recorders_in_several_processes_leave_a_chain_pot_test_accepts(store_dir: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir))).close()
    workers = [subprocess.Popen([sys.executable, "-m", "tests.support.record_worker", str(store_dir), model, "150",
                                 "5"], cwd=ROOT, stdout=subprocess.DEVNULL) for model in ("a", "a", "b")]
    assert all(w.wait(timeout=300) == 0 for w in workers)
    code, out, _ = cli(capsys, store_dir, "test")
    assert code == 0 and "still holds entry" in out, out
