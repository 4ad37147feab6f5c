"""The Transformers TrainerCallback on a real (tiny) Trainer run: steps, epochs, evaluations, saved directories."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sklearn.datasets import load_digits  # noqa: E402

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof  # noqa: E402
from pot.cli import main  # noqa: E402
from pot.integrations.huggingface import ProvenanceTrainerCallback  # noqa: E402
from pot.integrations.torch import model_hash  # noqa: E402
from pot.log.verify import find_checkpoint_file  # noqa: E402
from pot.replay.torch import optimizer_digest, read_state, rng_digest, state_digest  # noqa: E402


class Digits(torch.utils.data.Dataset):  # type: ignore[misc]
    """scikit-learn's digits as token sequences: each of the 64 pixels (0..16) is a token."""

    def __init__(self, start: int, stop: int) -> None:
        digits = load_digits()
        self.ids = torch.tensor(digits.data[start:stop], dtype=torch.long)
        self.labels = torch.tensor(digits.target[start:stop])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def test_trainer_run_is_recorded_and_proves(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=17, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64, num_labels=10)
    model = transformers.BertForSequenceClassification(config)
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    callback = ProvenanceTrainerCallback(recorder, model_id="bert-digits", proof_path=tmp_path / "proof.json")
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=64, learning_rate=3e-3,
        logging_steps=2, eval_strategy="epoch", save_strategy="epoch", report_to=[], use_cpu=True,
        disable_tqdm=True, seed=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Digits(0, 512),
                                   eval_dataset=Digits(1500, 1797), callbacks=[callback])
    trainer.train()

    proof = ProvenanceProof.load(tmp_path / "proof.json")
    verify_proof(proof, trusted_key=recorder.public_key)
    assert proof.final_model_hash == model_hash(model)
    assert len(proof.validation_chain) == 2 and "eval_loss" in proof.validation_chain[0].validation_result
    saved = sorted((tmp_path / "out").glob("checkpoint-*"))
    assert len(saved) == 2
    for directory in saved:
        assert find_checkpoint_file(proof, directory)["recorded"]
    steps = [s for r in proof.records if r.KIND == "steps" for s in r.steps]  # type: ignore[attr-defined]
    assert steps == list(range(2, trainer.state.global_step + 1, 2))  # every logged step
    losses = [v for r in proof.records if r.KIND == "steps" for v in r.metrics["loss"]]  # type: ignore[attr-defined]
    assert losses[-1] < losses[0]  # it really trained
    recorder.close()


def tiny_bert() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=17, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64, num_labels=10)
    return transformers.BertForSequenceClassification(config)


def pot(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err, out + err
    return out


def test_mid_epoch_saves_a_best_model_and_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Saves every 4 steps of 8-step epochs: checkpoint-20 is halfway through the third epoch (state.epoch 2.5),
    so epoch 2 (the Trainer's counter rounded half to even said 1). The best model, loaded back at the end, is
    the first evaluation's (step 4, epoch 0): the final record says so, not the last epoch and step."""
    store = tmp_path / "store"
    model = tiny_bert()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
    callback = ProvenanceTrainerCallback(recorder, model_id="bert-digits", proof_path=tmp_path / "proof.json")
    calls = itertools.count()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=3, per_device_train_batch_size=64, learning_rate=3e-3,
        logging_steps=4, eval_strategy="steps", eval_steps=4, save_strategy="steps", save_steps=4,
        load_best_model_at_end=True, metric_for_best_model="call", greater_is_better=False, report_to=[],
        use_cpu=True, disable_tqdm=True, seed=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Digits(0, 512),
                                   eval_dataset=Digits(1500, 1797), callbacks=[callback],
                                   compute_metrics=lambda _: {"call": next(calls)})  # the first evaluation is best
    trainer.train()

    proof = ProvenanceProof.load(tmp_path / "proof.json")
    verify_proof(proof, trusted_key=recorder.public_key)
    final = proof.training_chain[-1]
    assert (final.model_hash, final.epoch, final.step) == (model_hash(model), 0, 4)  # the best, loaded back
    for step, epoch in ((4, 0), (8, 0), (12, 1), (20, 2), (24, 2)):
        out = pot(capsys, "verify", "--proof", str(tmp_path / "proof.json"), "--checkpoint",
                  str(tmp_path / "out" / f"checkpoint-{step}"))
        said = next(line for line in out.splitlines() if line.lstrip().startswith("ok   checkpoint"))
        assert re.findall(r"as this file at epoch (\d+) \(record", said) == [str(epoch)], said

    runs = json.loads(pot(capsys, "--json", "--store", str(store), "runs", "list"))
    assert [(r["model_id"], r["status"]) for r in runs] == [("bert-digits", "completed")]
    shown = json.loads(pot(capsys, "--json", "--store", str(store), "runs", "show", runs[0]["run_id"]))
    config = shown["started_data"]["config"]
    assert config["framework"] == "transformers" and config["num_train_epochs"] == 3
    assert config["learning_rate"] == 3e-3 and "output_dir" not in config  # settings, not the machine's paths
    recorder.close()


class StateProbe(transformers.TrainerCallback):  # type: ignore[misc]
    """Runs after the provenance callback and takes the digests of the live optimizer and generators there."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str]] = []

    def _take(self, state: Any, optimizer: Any) -> None:
        self.seen.append((int(state.global_step), optimizer_digest(optimizer), rng_digest()))

    def on_train_begin(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        self._take(state, optimizer)

    def on_epoch_end(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        self._take(state, optimizer)


def test_record_replay_records_checkpoint_files_with_optimizer_and_rng_digests(tmp_path: Path) -> None:
    """The checkpoint half of recording for replay: a file at the start and per epoch, with the digests of the
    optimizer and generators as they were at that moment. No batch digests: the callback never sees a batch."""
    model = tiny_bert()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    callback = ProvenanceTrainerCallback(recorder, model_id="bert-digits", proof_path=tmp_path / "proof.json",
                                         record_replay=True, replay_dir=tmp_path / "replay")
    probe = StateProbe()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=64, learning_rate=3e-3,
        logging_steps=2, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Digits(0, 512), callbacks=[callback, probe])
    trainer.train()
    recorder.close()

    proof = ProvenanceProof.load(tmp_path / "proof.json")
    verify_proof(proof, trusted_key=recorder.public_key)
    replayable = [c for c in proof.training_chain if c.optimizer_hash is not None]
    assert [(c.file_name, c.epoch, c.step) for c in replayable] == [
        ("init.pt", 0, 0), ("epoch-000.pt", 0, 8), ("epoch-001.pt", 1, 16)]
    assert [(c.step, c.optimizer_hash, c.rng_hash) for c in replayable] == probe.seen  # the live states' digests
    assert len({c.optimizer_hash for c in replayable}) == 3 and len({c.rng_hash for c in replayable}) == 3
    for record in replayable:  # ... and the file holds what they name
        path = tmp_path / "replay" / str(record.file_name)
        saved = read_state(path)
        assert record.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert record.model_hash == model_hash(saved["model"])
        assert record.optimizer_hash == state_digest(saved["optimizer"])
        assert record.rng_hash == state_digest(saved["rng"])
    assert replayable[-1].model_hash == model_hash(model) == proof.final_model_hash
    blocks = [r for r in proof.records if r.KIND == "steps"]
    assert blocks and all(r.batches is None for r in blocks)  # type: ignore[attr-defined]


def test_record_replay_records_no_start_file_for_a_resumed_training(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The Trainer restores a resumed run's generators when the epoch starts, after on_train_begin: a start file
    written there would not hold the state training goes on from, so none is recorded, and the callback says so."""
    args = {"per_device_train_batch_size": 64, "learning_rate": 3e-3, "logging_steps": 2, "save_strategy": "epoch",
            "report_to": [], "use_cpu": True, "disable_tqdm": True, "seed": 0, "output_dir": str(tmp_path / "out")}
    transformers.Trainer(model=tiny_bert(), args=transformers.TrainingArguments(num_train_epochs=1, **args),
                         train_dataset=Digits(0, 512)).train()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    callback = ProvenanceTrainerCallback(recorder, model_id="bert-digits", proof_path=tmp_path / "proof.json",
                                         record_replay=True, replay_dir=tmp_path / "replay")
    trainer = transformers.Trainer(model=tiny_bert(), args=transformers.TrainingArguments(num_train_epochs=2, **args),
                                   train_dataset=Digits(0, 512), callbacks=[callback])
    trainer.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-8"))
    recorder.close()
    proof = ProvenanceProof.load(tmp_path / "proof.json")
    assert [(c.file_name, c.epoch, c.step) for c in proof.training_chain if c.optimizer_hash is not None] == [
        ("epoch-001.pt", 1, 16)]
    assert sorted(p.name for p in (tmp_path / "replay").iterdir()) == ["epoch-001.pt"]
    assert any("training resumes at step 8" in r.getMessage() for r in caplog.records)
