"""The Lightning callback on a real (tiny) training run: every epoch, validation and saved file is in the proof."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
lightning = pytest.importorskip("lightning.pytorch")

from sklearn.datasets import load_digits  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof  # noqa: E402
from pot.cli import main  # noqa: E402
from pot.errors import ReplayError, UsageError  # noqa: E402
from pot.integrations.lightning import IndexedDataset, ProvenanceCallback, replay_batch_digest  # noqa: E402
from pot.integrations.torch import model_hash  # noqa: E402
from pot.log.verify import find_checkpoint_file  # noqa: E402
from pot.replay import replay_plan  # noqa: E402
from pot.replay.torch import (  # noqa: E402
    Batch,
    batch_digest,
    optimizer_digest,
    read_state,
    replay_segments,
    state_digest,
)


class DigitsMLP(lightning.LightningModule):  # type: ignore[misc]
    def __init__(self, hidden: int = 32, optimizer: str = "adam") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.net(x)

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val_accuracy", (self(x).argmax(dim=1) == y).float().mean())
        self.log("val_age", float(self.current_epoch))  # monitored with mode "min": the best file is epoch 0's

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def loaders() -> tuple[DataLoader, DataLoader]:
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    train = DataLoader(TensorDataset(x[:1400], y[:1400]), batch_size=100, shuffle=True)
    val = DataLoader(TensorDataset(x[1400:], y[1400:]), batch_size=200)
    return train, val


def fit(tmp_path: Path, recorder: ProvenanceRecorder, *, max_epochs: int, model: Any = None,
        **callback: Any) -> tuple[Any, Any, ProvenanceCallback]:
    torch.manual_seed(0)
    provenance = ProvenanceCallback(recorder, model_id="digits-lightning", **callback)
    # Lightning's default keeps the newest epoch's file (and, with save_last, a copy as last.ckpt); a monitored one
    # keeps its best, here always epoch 0's: older weights than the final ones.
    checkpoints = lightning.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    oldest = lightning.callbacks.ModelCheckpoint(dirpath=tmp_path / "best", monitor="val_age", mode="min")
    trainer = lightning.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                                enable_model_summary=False, callbacks=[provenance, checkpoints, oldest])
    model = model if model is not None else DigitsMLP()
    train, val = loaders()
    trainer.fit(model, train, val)
    return trainer, model, provenance


def pot(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


def test_lightning_fit_is_recorded_and_proves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
    trainer, model, _ = fit(tmp_path, recorder, max_epochs=5, proof_path=tmp_path / "proof.json")

    proof = ProvenanceProof.load(tmp_path / "proof.json")
    verify_proof(proof, trusted_key=recorder.public_key)
    assert [c.epoch for c in proof.training_chain if c.file_sha256 is None] == [0, 1, 2, 3, 4]  # one per epoch
    assert proof.final_model_hash == model_hash(model)
    final = [c for c in proof.training_chain if c.model_hash == model_hash(model)]
    assert final and all(c.fingerprint_hash for c in final)
    assert len(proof.validation_chain) == 5 and "val_accuracy" in proof.validation_chain[-1].validation_result
    assert proof.validation_chain[-1].validation_result["val_accuracy"] > 0.5  # it really learned
    steps = [s for r in proof.records if r.KIND == "steps" for s in r.steps]  # type: ignore[attr-defined]
    assert steps == list(range(1, trainer.global_step + 1))  # every optimizer step (counted after it) is in the log

    # Each file Lightning kept is recorded as what it holds: its epoch, its step, its weights.
    kept = {p for p in (tmp_path / "ckpt").iterdir()} | {p for p in (tmp_path / "best").iterdir()}
    assert {p.relative_to(tmp_path).as_posix() for p in kept} == {"ckpt/epoch=4-step=70.ckpt", "ckpt/last.ckpt",
                                                                  "best/epoch=0-step=14.ckpt"}
    for path in kept:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        records = [c for c in proof.training_chain if c.file_sha256 == find_checkpoint_file(proof, path)["sha256"]
                   and c.file_name == path.name]
        assert [(c.epoch, c.step, c.model_hash) for c in records] == [
            (saved["epoch"], saved["global_step"], model_hash(saved["state_dict"]))]
    # ... and the auditor reads the epoch the file's name says (the last file was "recorded at epoch 5" before).
    for path in kept:
        epoch = 0 if path.parent.name == "best" else 4
        code, out = pot(capsys, "verify", "--proof", str(tmp_path / "proof.json"), "--checkpoint", str(path))
        said = next(line for line in out.splitlines() if line.lstrip().startswith("ok   checkpoint"))
        assert code == 0 and f"{path} (sha256" in said and "as this file at epoch" in said, out
        assert set(re.findall(r"at epoch (\d+) \(record", said)) == {str(epoch)}, said  # as this file, as weights

    # The fit is a run, and `pot runs list` shows it, completed, with the trainer's limits as its configuration.
    code, out = pot(capsys, "--json", "--store", str(store), "runs", "list")
    runs = json.loads(out)
    assert code == 0 and [(r["model_id"], r["kind"], r["status"]) for r in runs] == [
        ("digits-lightning", "train", "completed")]
    code, out = pot(capsys, "--json", "--store", str(store), "runs", "show", runs[0]["run_id"])
    config = json.loads(out)["started_data"]["config"]
    assert config["framework"] == "lightning" and config["max_epochs"] == 5
    assert config["hyperparameters"] == {"hidden": 32, "optimizer": "adam"}
    recorder.close()


def test_a_fit_inside_the_callers_run_joins_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
    with recorder.start_run("digits-lightning", config={"mine": True}) as run:
        fit(tmp_path, recorder, max_epochs=1)
        assert recorder.active_run("digits-lightning") == run.run_id  # the callback did not end the caller's run
    recorder.close()
    _, out = pot(capsys, "--json", "--store", str(store), "runs", "list")
    assert [(r["run_id"], r["status"]) for r in json.loads(out)] == [(run.run_id, "completed")]


class Crashes(DigitsMLP):
    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        if self.current_epoch == 1:
            raise RuntimeError("out of memory, say")
        return super().training_step(batch, batch_idx)


def test_a_fit_that_raises_is_a_failed_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
    with pytest.raises(RuntimeError, match="out of memory"):
        fit(tmp_path, recorder, max_epochs=3, model=Crashes())
    recorder.close()
    _, out = pot(capsys, "--json", "--store", str(store), "runs", "list")
    runs = json.loads(out)
    assert [(r["status"], r["error"]) for r in runs] == [("failed", "RuntimeError: out of memory, say")]
    assert pot(capsys, "--store", str(store), "proof", "--model-id", "digits-lightning", "--output",
               str(tmp_path / "p.json"))[0] == 0  # epoch 0 is recorded, signed and proves


def test_a_disabled_recorder_records_nothing_and_costs_nothing(tmp_path: Path) -> None:
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=False, store_dir=str(tmp_path / "store")))
    _, _, callback = fit(tmp_path, recorder, max_epochs=1, proof_path=tmp_path / "proof.json")
    assert callback.proof is None and callback.run is None
    assert not (tmp_path / "store").exists() and not (tmp_path / "proof.json").exists()


class ClassHyperparameter(DigitsMLP):
    def __init__(self, activation: type = torch.nn.ReLU) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_a_file_that_cannot_be_read_safely_is_not_recorded_as_something_else(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """A class among the hyperparameters puts a pickled class into every file Lightning saves: reading the file
    with weights_only refuses it, and running its pickle would run code. The file is then left out, with a warning,
    rather than recorded with an epoch or weights it may not hold; the final model is still recorded."""
    store = tmp_path / "store"
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
    _, model, callback = fit(tmp_path, recorder, max_epochs=2, model=ClassHyperparameter(),
                                proof_path=tmp_path / "proof.json")
    said = [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("3 checkpoint file(s) are not recorded") and "\x1b" not in said[0]
    assert callback.proof is not None and callback.proof.final_model_hash == model_hash(model)
    assert [(c.epoch, c.file_sha256) for c in callback.proof.training_chain] == [(0, None), (1, None), (1, None)]
    _, out = pot(capsys, "--json", "--store", str(store), "runs", "list")
    _, out = pot(capsys, "--json", "--store", str(store), "runs", "show", json.loads(out)[0]["run_id"])
    assert json.loads(out)["started_data"]["config"]["hyperparameters"] == {
        "hidden": 32, "optimizer": "adam", "activation": "<type>"}  # a class is named by its type
    recorder.close()


# --- recording for replay (docs/REPLAY.md) ----------------------------------------------------------------------


class IndexedDigitsMLP(DigitsMLP):
    """Reads batches ``[indices, [x, y]]`` from an IndexedDataset, and keeps what each step read."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        indices, (x, y) = batch
        self.seen.append(indices.clone())
        return torch.nn.functional.cross_entropy(self(x), y)


def digits() -> tuple[Any, Any]:
    data = load_digits()
    return torch.tensor(data.data / 16.0, dtype=torch.float32)[:1400], torch.tensor(data.target)[:1400]


def indexed_loader(x: Any, y: Any) -> DataLoader:
    return DataLoader(IndexedDataset(TensorDataset(x, y)), batch_size=100, shuffle=True)


def replay_fit(tmp_path: Path, recorder: ProvenanceRecorder, train: DataLoader, model: Any,
               max_epochs: int = 2, val: DataLoader | None = None) -> ProvenanceCallback:
    torch.manual_seed(0)
    callback = ProvenanceCallback(recorder, model_id="digits-replay", record_replay=True,
                                  replay_dir=tmp_path / "replay", proof_path=tmp_path / "proof.json")
    trainer = lightning.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                                enable_model_summary=False, enable_checkpointing=False, callbacks=[callback],
                                default_root_dir=tmp_path)
    trainer.fit(model, train, val)
    return callback


class LightningProgram:
    """The replay program of the fit above: the same loader, the module's loss, Adam's step as Lightning runs it."""

    def __init__(self, x: Any, y: Any) -> None:
        self.model = IndexedDigitsMLP()
        self.optimizer = self.model.configure_optimizers()
        self.loader = indexed_loader(x, y)

    def batches(self, epoch: int) -> Any:
        for indices, (x, y) in self.loader:
            yield Batch(indices, **{"0": x, "1": y})

    def step(self, batch: Any) -> None:
        self.optimizer.zero_grad()
        self.model.training_step([batch.indices, [batch.tensors["0"], batch.tensors["1"]]], 0).backward()
        self.optimizer.step()


class ScheduledDigitsMLP(IndexedDigitsMLP):
    """With a learning rate halved after every epoch (an epoch-interval StepLR)."""

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-2)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)}


class ScheduledProgram(LightningProgram):
    """The replay program of a ScheduledDigitsMLP fit: Lightning steps the scheduler after an epoch's last batch."""

    def __init__(self, x: Any, y: Any) -> None:
        self.model = ScheduledDigitsMLP()
        configured = self.model.configure_optimizers()
        self.optimizer, self.scheduler = configured["optimizer"], configured["lr_scheduler"]
        self.loader = indexed_loader(x, y)

    def batches(self, epoch: int) -> Any:
        yield from super().batches(epoch)
        self.scheduler.step()


def test_a_fit_with_a_learning_rate_scheduler_replays_from_its_state_in_the_files(tmp_path: Path) -> None:
    x, y = digits()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    model = ScheduledDigitsMLP()
    replay_fit(tmp_path, recorder, indexed_loader(x, y), model, max_epochs=3)
    recorder.close()
    proof = ProvenanceProof.load(tmp_path / "proof.json")
    files = {name: read_state(tmp_path / "replay" / name) for name in ("init.pt", "epoch-000.pt", "epoch-002.pt")}
    assert [files[name]["scheduler"]["last_epoch"] for name in files] == [0, 1, 3]  # stepped before the file
    plan = replay_plan(proof, (tmp_path / "proof.json").read_bytes())
    report = replay_segments(plan, tmp_path / "replay", lambda config: ScheduledProgram(x, y))
    assert [r.outcome for r in report.results] == ["exact", "exact", "exact"]
    # the same program without the scheduler's step: the epoch's weights match (the file gave it the epoch's rate)
    # but not the optimizer's state after it (the rate the next epoch starts with)
    class Unscheduled(ScheduledProgram):
        def batches(self, epoch: int) -> Any:
            yield from LightningProgram.batches(self, epoch)

    with pytest.raises(ReplayError, match="segment 3, .*the optimizer state differs"):
        replay_segments(plan, tmp_path / "replay", lambda config: Unscheduled(x, y), indexes=[3])


class StepScheduledDigitsMLP(IndexedDigitsMLP):
    """With a learning rate that decays after every step (a step-interval LambdaLR)."""

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.97 ** step)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class StepScheduledProgram(LightningProgram):
    def __init__(self, x: Any, y: Any) -> None:
        self.model = StepScheduledDigitsMLP()
        configured = self.model.configure_optimizers()
        self.optimizer, self.scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
        self.loader = indexed_loader(x, y)

    def step(self, batch: Any) -> None:
        super().step(batch)
        self.scheduler.step()


def test_a_fit_with_a_step_interval_scheduler_replays_bit_for_bit(tmp_path: Path) -> None:
    x, y = digits()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    replay_fit(tmp_path, recorder, indexed_loader(x, y), StepScheduledDigitsMLP(), max_epochs=2)
    recorder.close()
    proof = ProvenanceProof.load(tmp_path / "proof.json")
    assert read_state(tmp_path / "replay" / "epoch-000.pt")["scheduler"]["last_epoch"] == 14  # one per step
    plan = replay_plan(proof, (tmp_path / "proof.json").read_bytes())
    report = replay_segments(plan, tmp_path / "replay", lambda config: StepScheduledProgram(x, y))
    assert [r.outcome for r in report.results] == ["exact", "exact"]


def test_record_replay_refuses_two_learning_rate_schedulers(tmp_path: Path) -> None:
    class TwoSchedulers(IndexedDigitsMLP):
        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            optimizer = torch.optim.Adam(self.parameters(), lr=1e-2)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, 1),
                                 torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.9)]

    x, y = digits()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    with pytest.raises(UsageError, match="records one learning-rate scheduler's state, the module has 2"):
        replay_fit(tmp_path, recorder, indexed_loader(x, y), TwoSchedulers())
    recorder.close()


def test_record_replay_refuses_a_scheduler_stepped_on_validation_metrics(tmp_path: Path) -> None:
    class Plateau(IndexedDigitsMLP):
        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            optimizer = torch.optim.Adam(self.parameters(), lr=1e-2)
            return {"optimizer": optimizer, "lr_scheduler": {
                "scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer), "monitor": "val_accuracy"}}

    x, y = digits()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    with pytest.raises(UsageError, match=r"stepped on validation metrics \(ReduceLROnPlateau\)"):
        replay_fit(tmp_path, recorder, indexed_loader(x, y), Plateau(), val=loaders()[1])
    recorder.close()


def test_record_replay_records_batch_digests_and_replay_checkpoints(tmp_path: Path) -> None:
    x, y = digits()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    model = IndexedDigitsMLP()
    # with validation: its sanity check and each epoch's validation run between the recorded states
    replay_fit(tmp_path, recorder, indexed_loader(x, y), model, val=loaders()[1])
    recorder.close()
    proof = ProvenanceProof.load(tmp_path / "proof.json")
    verify_proof(proof, trusted_key=recorder.public_key)

    # Every step has a batch digest, and each is the digest of what that step read, recomputed from the test's own
    # data at the indices the step read: so it binds the sample positions, their order and their bytes.
    blocks = [r for r in proof.records if r.KIND == "steps"]
    steps = [s for r in blocks for s in r.steps]  # type: ignore[attr-defined]
    batches = [b for r in blocks for b in r.batches]  # type: ignore[attr-defined]
    epochs = [e for r in blocks for e in r.epochs]  # type: ignore[attr-defined]
    assert steps == list(range(1, 29)) and epochs == [0] * 14 + [1] * 14 and len(model.seen) == 28
    assert batches == [batch_digest(i, {"0": x[i], "1": y[i]}) for i in model.seen]
    for epoch in (0, 1):  # each epoch draws every sample once, in a shuffled order
        drawn = torch.cat(model.seen[14 * epoch:14 * (epoch + 1)])
        assert sorted(drawn.tolist()) == list(range(1400)) and drawn.tolist() != list(range(1400))
    assert batch_digest(model.seen[0].flip(0), {"0": x[model.seen[0].flip(0)], "1": y[model.seen[0].flip(0)]}) \
        != batches[0]  # a permuted batch is another batch

    # A checkpoint before the first step and one per epoch, each with its file and the digests of what it holds.
    replayable = [c for c in proof.training_chain if c.optimizer_hash is not None]
    assert [(c.file_name, c.epoch, c.step) for c in replayable] == [
        ("init.pt", 0, 0), ("epoch-000.pt", 0, 14), ("epoch-001.pt", 1, 28)]
    for record in replayable:
        path = tmp_path / "replay" / str(record.file_name)
        state = read_state(path)
        assert record.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert record.model_hash == model_hash(state["model"])
        assert record.optimizer_hash == state_digest(state["optimizer"])
        assert record.rng_hash == state_digest(state["rng"])
    assert replayable[-1].model_hash == model_hash(model) == proof.final_model_hash
    assert replayable[-1].optimizer_hash == optimizer_digest(model.trainer.optimizers[0])

    # What was recorded is what a replay needs: pot.replay re-executes both epochs from the files and the data and
    # reaches the recorded weights bit for bit (the loader's shuffle draws from the generators the files restore).
    plan = replay_plan(proof, (tmp_path / "proof.json").read_bytes())
    report = replay_segments(plan, tmp_path / "replay", lambda config: LightningProgram(x, y))
    assert [r.outcome for r in report.results] == ["exact", "exact"]


def test_record_replay_refuses_batches_without_sample_indices(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A plain loader's batches do not say which samples they hold: the fit stops before its first step, and the
    run is recorded as failed, rather than recording digests that are not batch digests."""
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    model = DigitsMLP()
    with pytest.raises(UsageError, match="IndexedDataset"):
        replay_fit(tmp_path, recorder, loaders()[0], model)
    recorder.close()
    _, out = pot(capsys, "--json", "--store", str(tmp_path / "store"), "runs", "list")
    assert [(r["status"], r["error"].split(":")[0]) for r in json.loads(out)] == [("failed", "UsageError")]


def test_replay_batch_digest_names_content_by_its_path_and_refuses_what_is_not_a_tensor() -> None:
    x, y = digits()
    indices = torch.tensor([5, 3, 9])
    assert replay_batch_digest([indices, {"x": x[indices], "y": y[indices]}]) == \
        batch_digest(indices, {"x": x[indices], "y": y[indices]})
    assert replay_batch_digest([indices, x[indices]]) == batch_digest(indices, {"sample": x[indices]})
    assert replay_batch_digest([indices, [x[indices], {"y": y[indices]}]]) == \
        batch_digest(indices, {"0": x[indices], "1/y": y[indices]})
    with pytest.raises(UsageError, match="'1/0' is a str"):
        replay_batch_digest([indices, [x[indices], ["three", "five", "nine"]]])
    with pytest.raises(UsageError, match="contains '/'"):
        replay_batch_digest([indices, {"1/y": y[indices], "1": {"y": y[indices]}}])  # two tensors named 1/y
    with pytest.raises(UsageError, match="int64 indices"):
        replay_batch_digest([x[indices], y[indices]])  # a plain (x, y) batch: no sample indices to digest


def test_record_replay_refuses_a_resumed_fit(tmp_path: Path) -> None:
    """Lightning restores a resumed fit's optimizer and step after on_fit_start, where the first replay checkpoint
    is taken: recording it would claim a fresh optimizer at step 0. The fit is refused before it trains."""
    x, y = digits()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    saving = lightning.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt")
    lightning.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[saving]).fit(IndexedDigitsMLP(), indexed_loader(x, y))
    callback = ProvenanceCallback(recorder, model_id="digits-replay", record_replay=True, replay_dir=tmp_path / "r")
    trainer = lightning.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                                enable_model_summary=False, enable_checkpointing=False, callbacks=[callback])
    model = IndexedDigitsMLP()
    with pytest.raises(UsageError, match="resumed"):
        trainer.fit(model, indexed_loader(x, y), ckpt_path=saving.best_model_path)
    recorder.close()
    assert model.seen == [] and not (tmp_path / "r").exists()  # nothing trained, no replay file written
