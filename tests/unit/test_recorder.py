"""The recorder: batching, flush and close, keys, partial proofs, checkpoint files, exit-time signing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof
from pot.errors import KeyringError, UsageError
from pot.log.keys import SigningKey
from pot.log.verify import find_checkpoint_file

from .conftest import StepClock, digest

ROOT = Path(__file__).resolve().parents[2]
Make = Callable[..., ProvenanceRecorder]


def record(recorder: ProvenanceRecorder, n: int, model_id: str = "m") -> list[str]:
    return [recorder.record_training_checkpoint(model_hash=digest(i), metrics={"loss": 1.0 / (i + 1)}, epoch=i,
                                                model_id=model_id) or "" for i in range(n)]


def test_every_batch_gets_a_signed_head(make_recorder: Make) -> None:
    recorder = make_recorder(batch_size=4)
    for i in range(12):
        record(recorder, 1)
        if i % 4 == 3:
            recorder.flush()  # wait for the batch's head so coalescing cannot merge batches in this test
    sizes = [h.head.tree_size for h in recorder.store.heads("m")]
    assert sizes == [4, 8, 12]
    assert len(recorder.store.receipts("m")) == 3  # each head anchored on the local chain


def test_close_signs_the_last_partial_batch(make_recorder: Make) -> None:
    recorder = make_recorder(batch_size=100)
    record(recorder, 7)
    assert recorder.store.heads("m") == []
    recorder.close()
    assert [h.head.tree_size for h in recorder.store.heads("m")] == [7]
    with pytest.raises(UsageError, match="closed"):
        record(recorder, 1)


def test_context_manager_closes(store_dir: Path) -> None:
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir))) as recorder:
        record(recorder, 3)
    assert recorder.store.latest_head("m") is not None


def test_heads_are_never_dated_before_their_records(make_recorder: Make) -> None:
    clock = StepClock()
    recorder = make_recorder(clock=clock)
    record(recorder, 5)
    clock.now = clock.now.replace(year=2020)  # the wall clock steps back before the head is signed
    recorder.flush()
    verify_proof(recorder.generate_proof_of_training("m"), trusted_key=recorder.public_key)


def test_proof_of_one_model_holds_only_its_records(make_recorder: Make) -> None:
    recorder = make_recorder()
    record(recorder, 3, "a")
    record(recorder, 2, "b")
    proof = recorder.generate_proof_of_training("b")
    assert {r.model_id for r in proof.records} == {"b"} and len(proof.records) == 2


def test_partial_proof_of_chosen_records(make_recorder: Make) -> None:
    recorder = make_recorder()
    ids = record(recorder, 6)
    proof = recorder.generate_proof_of_training("m", disclose=[ids[4]])
    assert proof.disclosure == "partial" and [r.record_id for r in proof.records] == [ids[4]]
    verify_proof(ProvenanceProof.from_json(proof.dumps()), trusted_key=recorder.public_key)
    with pytest.raises(UsageError, match="no record 'nope'"):
        recorder.generate_proof_of_training("m", disclose=["nope"])


def test_salted_neighbours_stay_private_in_a_partial_proof(make_recorder: Make) -> None:
    recorder = make_recorder()
    ids = record(recorder, 4)
    text = recorder.generate_proof_of_training("m", disclose=[ids[0]]).dumps()
    for i in range(1, 4):
        assert digest(i) not in text  # neighbours' contents never appear, only hashes of salted bodies


def test_checkpoint_file_digest_is_recorded_and_found(make_recorder: Make, tmp_path: Path) -> None:
    recorder = make_recorder()
    files = []
    for epoch in range(3):
        path = tmp_path / f"ckpt-{epoch}.bin"
        path.write_bytes(bytes([epoch]) * 1000)
        files.append(path)
        recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={}, epoch=epoch, model_id="m",
                                            checkpoint_path=path)
    proof = recorder.generate_proof_of_training("m")
    found = find_checkpoint_file(proof, files[1])
    assert found["recorded"] and found["matches"][0]["epoch"] == 1
    assert "epoch 1" in found["message"]
    other = tmp_path / "other.bin"
    other.write_bytes(b"x")
    assert not find_checkpoint_file(proof, other)["recorded"]


def test_nan_loss_is_recorded_not_fatal(make_recorder: Make) -> None:
    recorder = make_recorder()
    recorder.record_training_checkpoint(model_hash=digest(0), metrics={"loss": float("nan")}, epoch=0, model_id="m")
    proof = recorder.generate_proof_of_training("m")
    assert proof.training_chain[0].metrics == {"loss": "NaN"}


def test_a_store_keeps_its_key(store_dir: Path) -> None:
    first = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir)))
    record(first, 2)
    first.close()
    key_file = store_dir / "signing-key.pem"
    key_file.rename(store_dir / "moved.pem")
    with pytest.raises(KeyringError, match="no signing key at .*restore that key file"):
        ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir)))
    SigningKey.generate().save(key_file)
    with pytest.raises(KeyringError, match="this store's logs are signed with key"):
        ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir)))
    assert ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir),
                                               key_file=str(store_dir / "moved.pem"))).store.size("m") == 2


def test_encrypted_key_needs_its_passphrase(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POT_KEY_PASSPHRASE", "s3cret-words")
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir))) as recorder:
        record(recorder, 1)
    assert b"ENCRYPTED" in (store_dir / "signing-key.pem").read_bytes()
    monkeypatch.setenv("POT_KEY_PASSPHRASE", "wrong")
    with pytest.raises(KeyringError, match="wrong passphrase"):
        ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir)))


def test_store_location_follows_the_seed_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POT_HOME", raising=False)
    assert ProvenanceConfig().resolve_store() == Path(".pot")
    assert ProvenanceConfig(local_storage_path="runs/prov").resolve_store() == Path("runs/prov")
    monkeypatch.setenv("POT_HOME", str(tmp_path / "home"))
    assert ProvenanceConfig().resolve_store() == tmp_path / "home"
    assert ProvenanceConfig(store_dir="x").resolve_store() == Path("x")
    with pytest.raises(UsageError, match="batch_size must be a positive integer"):
        ProvenanceConfig(batch_size=0)


def test_unclosed_recorder_is_signed_at_interpreter_exit(store_dir: Path) -> None:
    script = (f"from pot import ProvenanceConfig, ProvenanceRecorder\n"
              f"r = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir={str(store_dir)!r}, batch_size=50))\n"
              f"for i in range(7):\n"
              f"    r.record_training_checkpoint(model_hash='h', metrics={{}}, epoch=i, model_id='m')\n")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir))) as recorder:
        assert [h.head.tree_size for h in recorder.store.heads("m")] == [7]


def test_an_explicit_key_must_be_the_stores_key(store_dir: Path) -> None:
    first = SigningKey.generate()
    ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir)), key=first).close()
    with pytest.raises(KeyringError, match="this store's logs are signed with key"):
        ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir)), key=SigningKey.generate())
