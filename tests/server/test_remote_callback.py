"""A framework callback records through ``pot serve`` with no change to the training code: only the environment
names the server (real Lightning, a real uvicorn, a SQLite store behind it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
lightning = pytest.importorskip("lightning.pytorch")
pytest.importorskip("fastapi", reason="needs the [server] extra")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from pot import ProvenanceProof, verify_proof  # noqa: E402
from pot.integrations.lightning import ProvenanceCallback  # noqa: E402
from tests.support.served import Served, log_records, prepare  # noqa: E402

from .test_remote import server_key  # noqa: E402


class Tiny(lightning.LightningModule):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 2)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.net(x)

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val_accuracy", (self.net(x).argmax(dim=1) == y).float().mean())

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_the_lightning_callback_records_through_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    root = tmp_path / "server-store"
    token = prepare(root)
    with Served(root) as served:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("POT_SERVER_URL", served.url)
        monkeypatch.setenv("POT_SERVER_TOKEN", token)
        monkeypatch.setenv("POT_SPOOL_DIR", str(tmp_path / "spool"))
        torch.manual_seed(0)
        x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        data = DataLoader(TensorDataset(x, y), batch_size=16)
        callback = ProvenanceCallback(model_id="tiny", proof_path=tmp_path / "tiny.proof.json")
        trainer = lightning.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                                    enable_model_summary=False, enable_checkpointing=False, callbacks=[callback])
        trainer.fit(Tiny(), data, data)
        assert not (tmp_path / ".pot" / "pot.db").exists()  # nothing was recorded locally
        proof = ProvenanceProof.load(tmp_path / "tiny.proof.json")
        assert verify_proof(proof, trusted_key=server_key(root)).ok
        kinds = Counter(r["type"] for r in log_records(served, "tiny"))
        assert kinds["checkpoint"] >= 2 and kinds["validation"] >= 2 and kinds["event"] >= 2
        assert proof.latest_head is not None and proof.latest_head.tree_size == sum(kinds.values())
