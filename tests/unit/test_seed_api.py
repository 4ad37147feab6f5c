"""The seed toolkit's interface (shared/seeds/002): its Quick Start and three integration patterns, as written.

The snippets below are the seed's, with its placeholders given real values: a real (tiny) PyTorch model, real
training steps and the seed's own ``get_model_hash``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def get_model_hash(model):  # type: ignore[no-untyped-def]
    """Generate deterministic hash of model parameters. (The seed's "Best Practices" function, verbatim.)"""
    param_bytes = b""
    for param in sorted(model.named_parameters()):
        param_bytes += param[1].data.cpu().numpy().tobytes()
    return hashlib.sha256(param_bytes).hexdigest()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the seed's code writes to the default store, ./.pot
    monkeypatch.delenv("POT_HOME", raising=False)


def tiny_model_and_data():  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    x = torch.randn(64, 8)
    y = (x.sum(dim=1) > 0).long()
    return model, x, y


def train_step(model, x, y, optimizer):  # type: ignore[no-untyped-def]
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    return {"loss": loss.item(), "accuracy": accuracy}


def test_quick_start_as_written() -> None:
    from pot.core.provenance_integration import ProvenanceConfig, ProvenanceRecorder

    # Initialize recorder
    config = ProvenanceConfig(
        enabled=True,
        blockchain_enabled=False,  # Start with local storage
        fingerprint_checkpoints=True
    )
    recorder = ProvenanceRecorder(config)

    model, x, y = tiny_model_and_data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        metrics = train_step(model, x, y, optimizer)
        # During training loop
        checkpoint_id = recorder.record_training_checkpoint(
            model_hash=get_model_hash(model),
            metrics={"loss": metrics["loss"], "accuracy": metrics["accuracy"]},
            epoch=epoch,
            model_id="my_model",
            model_fn=lambda x: model(x)  # For fingerprinting
        )
        assert len(checkpoint_id) == 64

    # After validation
    validation_id = recorder.record_validation(
        model_hash=get_model_hash(model),
        validator_id="validation_suite_v1",
        validation_result={"accuracy": 0.95, "confidence": 0.9},
        model_id="my_model"
    )

    # Generate complete proof
    proof = recorder.generate_proof_of_training("my_model")

    # Verify proof integrity
    is_valid = recorder.verify_training_provenance(proof)

    assert is_valid is True
    assert [c.epoch for c in proof.training_chain] == [0, 1, 2]
    assert all(c.fingerprint_hash for c in proof.training_chain)
    assert proof.validation_chain[0].validation_id == validation_id
    assert proof.validation_chain[0].confidence_score == 0.9
    assert proof.final_model_hash == get_model_hash(model)
    assert Path(".pot/pot.db").exists()
    recorder.close()


def test_decorator_pattern_as_written() -> None:
    from pot.core.provenance_integration import (
        ProvenanceConfig,
        ProvenanceRecorder,
        integrate_with_training_loop,
    )

    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True))
    model, x, y = tiny_model_and_data()
    model_fn = lambda x: model(x)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    epoch = 0

    @integrate_with_training_loop(recorder, model_fn, "my_model")
    def train_epoch(model, data_loader, optimizer):  # type: ignore[no-untyped-def]
        # Your training code
        metrics = train_step(model, *data_loader, optimizer)
        loss, acc = metrics["loss"], metrics["accuracy"]
        return {
            "epoch": epoch,
            "model_hash": get_model_hash(model),
            "metrics": {"loss": loss, "accuracy": acc}
        }

    for epoch in range(3):
        result = train_epoch(model, (x, y), optimizer)
        assert result["epoch"] == epoch
    proof = recorder.generate_proof_of_training("my_model")
    assert [c.epoch for c in proof.training_chain] == [0, 1, 2]
    assert recorder.verify_training_provenance(proof)
    recorder.close()


def test_manual_integration_pattern_as_written() -> None:
    from pot.core.provenance_integration import ProvenanceConfig, ProvenanceRecorder

    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, batch_size=2))
    model, x, y = tiny_model_and_data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    num_epochs, validation_frequency, model_id = 4, 2, "my_model"
    data_loader, val_loader = (x, y), (x[:16], y[:16])

    def train_epoch(model, data_loader):  # type: ignore[no-untyped-def]
        return model, train_step(model, *data_loader, optimizer)

    def validate_model(model, val_loader):  # type: ignore[no-untyped-def]
        with torch.no_grad():
            accuracy = (model(val_loader[0]).argmax(dim=1) == val_loader[1]).float().mean().item()
        return {"accuracy": accuracy, "confidence": 0.9}

    def training_loop():  # type: ignore[no-untyped-def]
        nonlocal model
        for epoch in range(num_epochs):
            # Training step
            model, metrics = train_epoch(model, data_loader)

            # Record checkpoint
            if recorder.config.enabled:
                recorder.record_training_checkpoint(
                    model_hash=get_model_hash(model),
                    metrics=metrics,
                    epoch=epoch,
                    model_id=model_id
                )

            # Validation step
            if epoch % validation_frequency == 0:
                val_results = validate_model(model, val_loader)

                # Record validation
                if recorder.config.enabled:
                    recorder.record_validation(
                        model_hash=get_model_hash(model),
                        validator_id="official_validator",
                        validation_result=val_results,
                        model_id=model_id
                    )

    training_loop()
    proof = recorder.generate_proof_of_training(model_id)
    assert len(proof.training_chain) == 4 and len(proof.validation_chain) == 2
    assert recorder.verify_training_provenance(proof)
    recorder.close()


def test_context_manager_pattern_as_written() -> None:
    from pot.core.provenance_integration import ProvenanceConfig, ProvenanceRecorder

    class ProvenanceContext:
        def __init__(self, recorder, model_id):  # type: ignore[no-untyped-def]
            self.recorder = recorder
            self.model_id = model_id

        def __enter__(self):  # type: ignore[no-untyped-def]
            return self

        def __exit__(self, exc_type, exc_val, exc_tb):  # type: ignore[no-untyped-def]
            if not exc_type:  # No exception
                # Generate final proof
                self.proof = self.recorder.generate_proof_of_training(self.model_id)

    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True))
    model, x, y = tiny_model_and_data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    # Usage
    with ProvenanceContext(recorder, "my_model") as ctx:
        # Training code
        metrics = train_step(model, x, y, optimizer)
        recorder.record_training_checkpoint(model_hash=get_model_hash(model), metrics=metrics, epoch=0,
                                            model_id="my_model")
    # Proof automatically generated
    assert recorder.verify_training_provenance(ctx.proof)
    recorder.close()


def test_library_context_helper() -> None:
    from pot.core.provenance_integration import ProvenanceConfig, ProvenanceContext, ProvenanceRecorder

    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True))
    with ProvenanceContext(recorder, "m") as ctx:
        recorder.record_training_checkpoint(model_hash="h", metrics={}, epoch=0, model_id="m")
    assert ctx.proof is not None and recorder.verify_training_provenance(ctx.proof)
    recorder.close()


def test_config_fields_are_the_seeds() -> None:
    import dataclasses

    from pot.core.provenance_integration import ProvenanceConfig

    fields = {f.name: f.default for f in dataclasses.fields(ProvenanceConfig)}
    assert list(fields)[:8] == ["enabled", "blockchain_enabled", "local_storage_path", "batch_size", "auto_verify",
                                "fingerprint_checkpoints", "record_challenges", "client_config"]
    assert (fields["enabled"], fields["blockchain_enabled"], fields["local_storage_path"], fields["batch_size"],
            fields["auto_verify"], fields["fingerprint_checkpoints"], fields["record_challenges"],
            fields["client_config"]) == (False, False, "./provenance_records.json", 10, True, True, True, None)


def test_disabled_recorder_records_nothing() -> None:
    from pot.core.provenance_integration import ProvenanceConfig, ProvenanceRecorder

    recorder = ProvenanceRecorder(ProvenanceConfig())  # the seed's default: enabled=False
    assert recorder.record_training_checkpoint(model_hash="h", metrics={}, epoch=0, model_id="m") is None
    assert not os.path.exists(".pot")
