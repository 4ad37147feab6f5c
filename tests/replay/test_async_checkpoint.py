"""Writing replay checkpoints off the training thread (save_checkpoint_async) and the hot-path digests: the same
bytes and digests as the plain path, the state as it was at the call, and the record in its place in the log."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from pot import ProvenanceConfig, ProvenanceRecorder  # noqa: E402
from pot.errors import UsageError  # noqa: E402
from pot.integrations.torch import model_hash  # noqa: E402
from pot.log.records import StepsRecord, TrainingCheckpoint  # noqa: E402
from pot.replay import checkpoint as checkpoint_file  # noqa: E402
from pot.replay.digests import batch_digest_of  # noqa: E402
from pot.replay.torch import (  # noqa: E402
    _item,
    batch_digest,
    optimizer_digest,
    read_state,
    save_checkpoint,
    save_checkpoint_async,
    state_digest,
)


class Tied(torch.nn.Module):
    """Tied weights (one tensor under two names) and a bool buffer: the general digest paths."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(7, 4)
        self.out = torch.nn.Linear(4, 7, bias=False)
        self.out.weight = self.embed.weight
        self.register_buffer("mask", torch.tensor([True, False, True]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))  # type: ignore[no-any-return]


def _trained(model: torch.nn.Module) -> torch.optim.Optimizer:
    torch.manual_seed(3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randint(0, 7, (5,))).sum().backward()
        optimizer.step()
    return optimizer


@pytest.mark.parametrize("make", [lambda: torch.nn.Sequential(torch.nn.Embedding(7, 4), torch.nn.Linear(4, 3)),
                                  Tied], ids=["plain", "tied"])
def test_the_background_file_and_digests_are_the_plain_ones(tmp_path: Path, make: object) -> None:
    model = make()  # type: ignore[operator]
    optimizer = _trained(model)
    plain = save_checkpoint(tmp_path / "plain.pt", model, optimizer)
    pending = save_checkpoint_async(tmp_path / "async.pt", model, optimizer)
    written = pending.result(timeout=60)
    assert (tmp_path / "plain.pt").read_bytes() == (tmp_path / "async.pt").read_bytes()
    assert (written.model_hash, written.optimizer_hash, written.rng_hash, written.file_sha256) == \
        (plain.model_hash, plain.optimizer_hash, plain.rng_hash, plain.file_sha256)
    assert written.model_hash == model_hash(model) and written.optimizer_hash == optimizer_digest(optimizer)
    import hashlib

    assert written.file_sha256 == hashlib.sha256((tmp_path / "async.pt").read_bytes()).hexdigest()


def test_the_file_holds_the_state_at_the_call_while_training_goes_on(tmp_path: Path) -> None:
    model = torch.nn.Linear(64, 64)
    optimizer = _stepped(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    before, before_optimizer = model_hash(model), optimizer_digest(optimizer)
    pending = save_checkpoint_async(tmp_path / "a.pt", model, optimizer)
    with torch.no_grad():  # training goes on at once, changing the live tensors in place
        model.weight.add_(1.0)
    _stepped(model, optimizer)
    written = pending.result(timeout=60)
    assert (written.model_hash, written.optimizer_hash) == (before, before_optimizer)
    state = read_state(tmp_path / "a.pt")
    assert model_hash(state["model"]) == before and state_digest(state["optimizer"]) == before_optimizer


def _stepped(model: torch.nn.Linear, optimizer: torch.optim.Optimizer | None = None) -> torch.optim.Optimizer:
    """One optimizer step on ``model`` (Adam unless an optimizer is given), so that the optimizer has state."""
    optimizer = optimizer or torch.optim.Adam(model.parameters())
    optimizer.zero_grad()
    model(torch.ones(2, model.in_features)).sum().backward()
    optimizer.step()
    return optimizer


def test_the_recorder_appends_a_background_checkpoint_in_its_place(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = _stepped(model)
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store"))) as recorder:
        recorder.record_step(1, {"loss": 1.0}, "m", epoch=0)
        pending = save_checkpoint_async(tmp_path / "epoch-000.pt", model, optimizer)
        recorder.record_training_checkpoint(metrics={}, epoch=0, model_id="m", step=1, **pending.record_fields())
        recorder.record_step(2, {"loss": 1.0}, "m", epoch=1)
        proof = recorder.generate_proof_of_training("m")
    written = pending.result()
    kinds = [(r.KIND, r.steps if isinstance(r, StepsRecord) else r.step) for r in proof.records
             if isinstance(r, StepsRecord | TrainingCheckpoint)]
    assert kinds == [("steps", [1]), ("checkpoint", 1), ("steps", [2])]
    [checkpoint] = proof.training_chain
    assert (checkpoint.model_hash, checkpoint.optimizer_hash, checkpoint.rng_hash, checkpoint.file_sha256,
            checkpoint.file_name) == (written.model_hash, written.optimizer_hash, written.rng_hash,
                                      written.file_sha256, "epoch-000.pt")


def test_a_background_checkpoint_that_cannot_be_written_is_said_at_the_next_call_and_nothing_else_is_lost(
        tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = _stepped(model)
    store = tmp_path / "store"
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store))) as recorder:
        recorder.record_step(1, {"loss": 1.0}, "m")
        with pytest.raises(UsageError, match="no directory"):  # the common mistake is said at the call
            save_checkpoint_async(tmp_path / "missing" / "a.pt", model, optimizer)
        # inside the store: refused by the background write's checks
        pending = save_checkpoint_async(store / "a.pt", model, optimizer, stores=[store])
        recorder.record_training_checkpoint(metrics={}, epoch=0, model_id="m", step=1, **pending.record_fields())
        with pytest.raises(UsageError, match="inside the pot store"):
            pending.result(timeout=60)
        # the next call that writes the buffer says it (a step once the write has failed, else a flush)
        with pytest.raises(UsageError, match="inside the pot store"):
            recorder.record_step(2, {"loss": 1.0}, "m")
        proof = recorder.generate_proof_of_training("m")
    assert [r.steps for r in proof.records if isinstance(r, StepsRecord)] == [[1], [2]]
    assert proof.training_chain == [] and not (store / "a.pt").exists()


BATCHES = [
    {"x": torch.rand(6, 5), "y": torch.randint(0, 9, (6,))},
    {"b": torch.rand(6, 2).double(), "a": torch.rand(6).half(), "A": torch.rand(6) > 0.5, "x.2": torch.zeros(6, 0)},
    {"x": torch.rand(5, 6).t(), "y": torch.arange(6, dtype=torch.int32)},  # not C-contiguous
    {"x": torch.rand(6, 3, requires_grad=True)},  # numpy refuses: the general path
    {"x": torch.rand(6).to(torch.bfloat16), "tokens": torch.randint(0, 100, (6, 4), dtype=torch.int16)},
    {},
]


@pytest.mark.parametrize("tensors", BATCHES)
def test_the_batch_digests_hot_path_gives_the_definitions_digest(tensors: dict[str, torch.Tensor]) -> None:
    indices = torch.randperm(20)[:6]
    expected = batch_digest_of(_item("indices", indices), [_item(name, t) for name, t in tensors.items()])
    assert batch_digest(indices, tensors) == expected  # the first time: the layout is learnt
    assert batch_digest(indices, tensors) == expected  # then remembered
    other = indices.flip(0)
    assert batch_digest(other, tensors) == batch_digest_of(_item("indices", other),
                                                           [_item(name, t) for name, t in tensors.items()])


def test_the_hot_path_refuses_what_the_definition_refuses() -> None:
    with pytest.raises(UsageError, match="may not be named 'indices'"):
        batch_digest(torch.arange(2), {"indices": torch.arange(2)})
    with pytest.raises(UsageError, match="vector"):
        batch_digest(torch.zeros(2, 2, dtype=torch.int64), {"x": torch.zeros(2)})


def test_the_checkpoint_header_is_the_json_json_dumps_writes() -> None:
    state = {"format": "f", "model": {"w": torch.ones(2, dtype=torch.float16)},
             "optimizer": {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [
                 {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "flag": True, "none": None, "n": -7,
                  "big": 2 ** 70, "nan": math.nan, "inf": -math.inf, "é\"\\": "ü\n", "params": [0]}]},
             "rng": []}
    pieces = checkpoint_file.encode(state)
    header = bytes(pieces[2])
    assert header == json.dumps(json.loads(header), separators=(",", ":")).encode()
    back = checkpoint_file.decode(b"".join(bytes(memoryview(p).cast("B")) for p in pieces))
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert math.isnan(back["optimizer"]["param_groups"][0]["nan"])
    assert back["optimizer"]["param_groups"][0]["é\"\\"] == "ü\n" and back["optimizer"]["state"][0]["step"] == 3.0


def test_a_scheduler_state_is_written_the_same_in_the_background(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = _stepped(model)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    scheduler.step()
    save_checkpoint(tmp_path / "plain.pt", model, optimizer, scheduler=scheduler)
    pending = save_checkpoint_async(tmp_path / "async.pt", model, optimizer, scheduler=scheduler)
    scheduler.step()  # goes on at once: the file holds the state at the call
    pending.result(timeout=60)
    assert (tmp_path / "plain.pt").read_bytes() == (tmp_path / "async.pt").read_bytes()
    assert read_state(tmp_path / "async.pt")["scheduler"]["last_epoch"] == 1
