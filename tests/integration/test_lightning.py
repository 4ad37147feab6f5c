"""The Lightning callback on a real (tiny) training run: every epoch, validation and saved file is in the proof."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
lightning = pytest.importorskip("lightning.pytorch")

from sklearn.datasets import load_digits  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof  # noqa: E402
from pot.integrations.lightning import ProvenanceCallback  # noqa: E402
from pot.integrations.torch import model_hash  # noqa: E402
from pot.log.verify import find_checkpoint_file  # noqa: E402


class DigitsMLP(lightning.LightningModule):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

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

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def loaders() -> tuple[DataLoader, DataLoader]:
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    train = DataLoader(TensorDataset(x[:1400], y[:1400]), batch_size=100, shuffle=True)
    val = DataLoader(TensorDataset(x[1400:], y[1400:]), batch_size=200)
    return train, val


def test_lightning_fit_is_recorded_and_proves(tmp_path: Path) -> None:
    torch.manual_seed(0)
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    callback = ProvenanceCallback(recorder, model_id="digits-lightning", proof_path=tmp_path / "proof.json")
    checkpoints = lightning.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_accuracy",
                                                      mode="max", save_last=True)
    trainer = lightning.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_progress_bar=False,
                                enable_model_summary=False, callbacks=[callback, checkpoints])
    model = DigitsMLP()
    train, val = loaders()
    trainer.fit(model, train, val)

    proof = ProvenanceProof.load(tmp_path / "proof.json")
    verify_proof(proof, trusted_key=recorder.public_key)
    assert [c.epoch for c in proof.training_chain if c.file_sha256 is None] == [0, 1, 2]  # one per epoch
    final = [c for c in proof.training_chain if c.file_sha256 is not None]  # the final model, with its files
    assert final and {c.model_hash for c in final} == {model_hash(model)}
    assert all(c.fingerprint_hash for c in proof.training_chain)
    assert proof.final_model_hash == model_hash(model)
    assert len(proof.validation_chain) == 3 and "val_accuracy" in proof.validation_chain[-1].validation_result
    assert proof.validation_chain[-1].validation_result["val_accuracy"] > 0.5  # it really learned
    steps = [s for r in proof.records if r.KIND == "steps" for s in r.steps]  # type: ignore[attr-defined]
    assert steps == list(range(1, trainer.global_step + 1))  # every optimizer step (counted after it) is in the log
    assert find_checkpoint_file(proof, checkpoints.last_model_path)["recorded"]
    recorder.close()
