"""Replay on the example's real training: an honest run replays bit for bit, and each attack of issue 13 is
refused, naming the segment. Every run here trains the digits MLP for real (3 epochs, 3 segments)."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from pot import ProvenanceConfig, ProvenanceRecorder  # noqa: E402
from pot.errors import ReplayAttestationError, ReplayError, UsageError  # noqa: E402
from pot.log.keys import SigningKey  # noqa: E402
from pot.replay import attest_replay, load_plan, verify_attestation  # noqa: E402
from pot.replay.torch import (  # noqa: E402
    Batch,
    ReplayReport,
    read_state,
    replay_segments,
    save_checkpoint,
    write_state,
)

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3
TARGET = 1  # the epoch each attack tampers with: segment 2 (segment 1 is epoch 0, from init.pt)


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("_pot_example_for_replay",
                                                  ROOT / "examples" / "training_with_provenance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()
DATA = EXAMPLE.load_data(0)
CONFIG = {"epochs": EPOCHS, "batch_size": 64, "lr": 1e-3, "seed": 0, "threads": 1}


@dataclass
class Run:
    proof: Path
    checkpoints: Path
    signer: SigningKey


Tamper = Callable[..., Any]


def train(tmp: Path, *, batches: Callable[[Any, int], Iterator[tuple[Batch, Batch | None]]] | None = None,
          before_save: Callable[[Any, int], None] | None = None,
          during: Callable[[Any, int], Any] | None = None, program_class: Any = None) -> Run:
    """The example's training, recorded for replay, with hooks an attacker would use:

    ``batches(program, epoch)`` yields (the batch recorded, the batch trained on or None to skip the update);
    ``during(program, epoch)`` runs before an epoch and may return a function to run after it;
    ``before_save(program, epoch)`` edits the model after an epoch, before its checkpoint is saved and recorded.
    ``program_class`` trains another program than the example's (its scheduler, if any, goes into the files).
    """
    checkpoints = tmp / "checkpoints"
    checkpoints.mkdir()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp / "store")))
    with recorder.start_run("m", config=CONFIG, capture=False):
        program = (program_class or EXAMPLE.DigitsProgram)(CONFIG, DATA)
        scheduler = getattr(program, "scheduler", None)
        saved = save_checkpoint(checkpoints / "init.pt", program.model, program.optimizer, scheduler=scheduler)
        recorder.record_training_checkpoint(metrics={}, epoch=0, model_id="m", step=0, **saved.record_fields())
        step = 0
        for epoch in range(EPOCHS):
            after = during(program, epoch) if during else None
            pairs = batches(program, epoch) if batches else ((b, b) for b in program.batches(epoch))
            for recorded, trained in pairs:
                if trained is not None:
                    program.step(trained)
                step += 1
                recorder.record_step(step, {"loss": 0.0}, "m", epoch=epoch, batch=recorded.digest())
            if after:
                after()
            if before_save:
                before_save(program, epoch)
            saved = save_checkpoint(checkpoints / f"epoch-{epoch:03d}.pt", program.model, program.optimizer,
                                    scheduler=scheduler)
            recorder.record_training_checkpoint(metrics={}, epoch=epoch, model_id="m", step=step,
                                                **saved.record_fields())
    proof = recorder.generate_proof_of_training("m")
    signer = recorder.key
    recorder.close()
    assert proof is not None
    path = tmp / "m.proof.json"
    proof.save(path)
    return Run(path, checkpoints, signer)


def replay(run: Run, program: Callable[[Any], Any] | None = None, **options: Any) -> ReplayReport:
    plan = load_plan(run.proof, trusted_key=run.signer.public)
    return replay_segments(plan, run.checkpoints, program or EXAMPLE.replay_program, **options)


def refused(run: Run) -> ReplayReport:
    with pytest.raises(ReplayError) as caught:
        replay(run)
    report: ReplayReport = caught.value.report
    outcomes = {r.segment.index: r.outcome for r in report.results}
    assert outcomes == {1: "exact", 2: "refused", 3: "exact"}, [r.detail for r in report.results]
    assert str(caught.value).startswith("segment 2, epoch 1 (steps 24-46): ")
    return report


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return train(tmp_path_factory.mktemp("honest"))


def test_an_honest_run_replays_bit_for_bit(honest: Run) -> None:
    report = replay(honest)
    assert report.ok and report.verdict == "confirmed"
    assert report.initialisation == "same"  # init.pt holds what the example builds from its recorded seed
    assert [(r.segment.index, r.segment.name, r.outcome) for r in report.results] == [
        (1, "epoch 0 (steps 1-23)", "exact"), (2, "epoch 1 (steps 24-46)", "exact"),
        (3, "epoch 2 (steps 47-69)", "exact")]


def test_segments_are_chosen_by_weight_change_and_at_random(honest: Run) -> None:
    report = replay(honest, count=2, seed=7)
    chosen = sorted(r.chosen_by for r in report.results)
    assert chosen == ["largest-change", "random"]
    names = ["init.pt", *(f"epoch-{e:03d}.pt" for e in range(EPOCHS))]
    weights = [torch.cat([t.reshape(-1).double() for t in read_state(honest.checkpoints / n)["model"].values()])
               for n in names]
    moved = [float((b - a).norm()) for a, b in itertools.pairwise(weights)]
    largest = 1 + max(range(len(moved)), key=moved.__getitem__)
    assert next(r for r in report.results if r.chosen_by == "largest-change").segment.index == largest


def test_a_checkpoint_from_training_on_other_batches_is_refused(tmp_path: Path) -> None:
    other = torch.Generator().manual_seed(99)

    def batches(program: Any, epoch: int) -> Iterator[tuple[Batch, Batch | None]]:
        for batch in program.batches(epoch):
            if epoch != TARGET:
                yield batch, batch
                continue
            indices = torch.randperm(len(DATA.x_train), generator=other)[:len(batch.indices)]
            yield batch, Batch(indices, x=DATA.x_train[indices], y=DATA.y_train[indices])

    report = refused(train(tmp_path, batches=batches))
    assert "replayed weights differ from those recorded at step 46" in report.results[1].detail


def test_weights_edited_after_training_are_refused(tmp_path: Path) -> None:
    def edit(program: Any, epoch: int) -> None:
        if epoch == TARGET:
            with torch.no_grad():
                program.model[0].weight[0, 0] += 1e-4

    report = refused(train(tmp_path, before_save=edit))
    assert "replayed weights differ" in report.results[1].detail


def test_a_batch_digest_that_does_not_match_the_data_is_refused(tmp_path: Path) -> None:
    def batches(program: Any, epoch: int) -> Iterator[tuple[Batch, Batch | None]]:
        for n, batch in enumerate(program.batches(epoch)):
            if epoch == TARGET and n == 6:  # trained on the real batch, recorded another's digest
                indices = batch.indices.flip(0)
                yield Batch(indices, x=DATA.x_train[indices], y=DATA.y_train[indices]), batch
            else:
                yield batch, batch

    report = refused(train(tmp_path, batches=batches))
    assert report.results[1].detail.startswith("step 30: the batch the data gives differs")


def test_a_skipped_step_is_refused(tmp_path: Path) -> None:
    """The batch neither trained on nor recorded: the log has one step fewer than the data gives."""
    def batches(program: Any, epoch: int) -> Iterator[tuple[Batch, Batch | None]]:
        for n, batch in enumerate(program.batches(epoch)):
            if not (epoch == TARGET and n == 10):
                yield batch, batch

    with pytest.raises(ReplayError) as caught:
        replay(train(tmp_path, batches=batches))
    report: ReplayReport = caught.value.report
    # with one step fewer, epochs 1 and 2 are steps 24-45 and 46-68: both start where the log says
    assert [r.outcome for r in report.results] == ["exact", "refused", "exact"]
    assert str(caught.value).startswith("segment 2, epoch 1 (steps 24-45): step 34: the batch the data gives")


def test_a_recorded_step_whose_update_was_skipped_is_refused(tmp_path: Path) -> None:
    def batches(program: Any, epoch: int) -> Iterator[tuple[Batch, Batch | None]]:
        for n, batch in enumerate(program.batches(epoch)):
            yield batch, (None if epoch == TARGET and n == 10 else batch)

    report = refused(train(tmp_path, batches=batches))
    assert "replayed weights differ" in report.results[1].detail


def test_a_segment_trained_with_another_learning_rate_is_refused(tmp_path: Path) -> None:
    def during(program: Any, epoch: int) -> Callable[[], None] | None:
        if epoch != TARGET:
            return None
        group = program.optimizer.param_groups[0]
        group["lr"] = CONFIG["lr"] * 3

        def restore() -> None:  # the checkpoint's optimizer state shows the configured rate again
            group["lr"] = CONFIG["lr"]
        return restore

    report = refused(train(tmp_path, during=during))
    assert "replayed weights differ" in report.results[1].detail


def test_a_checkpoint_file_that_is_not_the_recorded_one_is_refused(honest: Run, tmp_path: Path) -> None:
    copied = tmp_path / "checkpoints"
    copied.mkdir()
    for file in honest.checkpoints.iterdir():
        copied.joinpath(file.name).write_bytes(file.read_bytes())
    state = read_state(copied / "epoch-000.pt")
    state["model"]["0.bias"] = state["model"]["0.bias"] + 1e-6
    write_state(copied / "epoch-000.pt", state)
    with pytest.raises(ReplayError) as caught:
        replay(Run(honest.proof, copied, honest.signer))
    report: ReplayReport = caught.value.report
    # epoch-000.pt starts segment 2, which cannot start from it; segment 1 ends there, but its replay reaches the
    # recorded digest bit for bit, which is what the log claims: the file is not needed for it
    assert [r.outcome for r in report.results] == ["exact", "refused", "exact"]
    assert "epoch-000.pt is not the checkpoint file recorded at step 23" in report.results[1].detail


def test_a_tolerance_accepts_a_near_miss_and_says_so(tmp_path: Path) -> None:
    def edit(program: Any, epoch: int) -> None:
        if epoch == TARGET:
            with torch.no_grad():
                program.model[0].weight[0, 0] += 1e-6

    run = train(tmp_path, before_save=edit)
    report = replay(run, indexes=[2], tolerance=1e-3)
    [result] = report.results
    assert result.outcome == "within-tolerance" and result.distance is not None and 0 < result.distance < 1e-3


def test_the_attestation_names_the_proof_and_every_field_is_signed(honest: Run) -> None:
    report = replay(honest, indexes=[1, 3])
    verifier = SigningKey.generate()
    document = attest_replay(report, verifier, datetime(2026, 11, 30, tzinfo=UTC))
    text = json.dumps(document)
    statement = verify_attestation(text, trusted_key=verifier.public, proof_bytes=honest.proof.read_bytes())
    assert statement["verdict"] == "confirmed" and [s["segment"] for s in statement["segments"]] == [1, 3]
    with pytest.raises(ReplayAttestationError, match="names another proof"):
        verify_attestation(text, proof_bytes=honest.proof.read_bytes() + b" ")
    with pytest.raises(ReplayAttestationError, match="not by the trusted key"):
        verify_attestation(text, trusted_key=SigningKey.generate().public)
    for path, value in _leaves(document):
        if path[-1] in ("public_key", "key_id") or path == ("signature",):
            continue  # another key, or another signature, is covered just below
        tampered = copy.deepcopy(document)
        _set(tampered, path, _changed(value))
        with pytest.raises(ReplayAttestationError):
            verify_attestation(json.dumps(tampered))
    forged = {**document, "signature": SigningKey.generate().sign(b"pot.v1.replay-attestation",
                                                                  {k: v for k, v in document.items()
                                                                   if k != "signature"})}
    with pytest.raises(ReplayAttestationError, match="signature does not verify"):
        verify_attestation(json.dumps(forged))


def test_a_refusal_is_attested_as_refused(honest: Run, tmp_path: Path) -> None:
    copied = tmp_path / "checkpoints"
    copied.mkdir()
    for file in honest.checkpoints.iterdir():
        copied.joinpath(file.name).write_bytes(b"not a checkpoint" if file.name == "epoch-001.pt" else
                                               file.read_bytes())
    with pytest.raises(ReplayError) as caught:
        replay(Run(honest.proof, copied, honest.signer), indexes=[3])
    document = attest_replay(caught.value.report, SigningKey.generate(), datetime.now(UTC))
    assert verify_attestation(json.dumps(document))["verdict"] == "refused"


def test_a_partial_proof_or_a_missing_directory_is_a_usage_error(honest: Run, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no checkpoint directory"):
        replay(Run(honest.proof, tmp_path / "absent", honest.signer))
    with pytest.raises(UsageError, match="no segment 9"):
        replay(honest, indexes=[9])


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = value


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if value is None:
        return 1.0
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str) and value and value[-1] in "0123456789abcdef":
        return value[:-1] + ("0" if value[-1] != "0" else "1")
    return value + "x"


def test_the_weights_digest_recorded_for_replay_is_the_model_hash(honest: Run) -> None:
    from pot.integrations.torch import model_hash
    from pot.replay.torch import _model_digest

    program = EXAMPLE.DigitsProgram(CONFIG, DATA)
    assert _model_digest(program.model) == model_hash(program.model)
    tied = torch.nn.Sequential(torch.nn.Linear(3, 3, bias=False), torch.nn.Linear(3, 3, bias=False))
    tied[1].weight = tied[0].weight
    assert _model_digest(tied) == model_hash(tied)


@pytest.mark.parametrize("damage", ["truncated", "magic", "header", "offset", "tree", "pickle"])
def test_a_malformed_checkpoint_file_is_one_line_never_code(honest: Run, tmp_path: Path, damage: str) -> None:
    from pot.replay.checkpoint import MAGIC, decode

    data = (honest.checkpoints / "epoch-000.pt").read_bytes()
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 8], "little")
    header = json.loads(data[len(MAGIC) + 8:len(MAGIC) + 8 + size])
    body = data[len(MAGIC) + 8 + size:]

    def rebuilt(new: Any) -> bytes:
        text = json.dumps(new).encode()
        return MAGIC + len(text).to_bytes(8, "little") + text + body

    bad = {"truncated": data[:len(data) // 2], "magic": b"X" + data[1:],
           "header": MAGIC + (10**9).to_bytes(8, "little") + data[len(MAGIC) + 8:],
           "offset": rebuilt({**header, "tensors": [{**header["tensors"][0], "offset": len(body)}]}),
           "tree": rebuilt({**header, "tree": {"t": 10_000}}),
           "pickle": b"\x80\x04K\x01."}[damage]  # a pickle is refused, never run
    with pytest.raises(UsageError, match="is not a pot.replay-checkpoint.v1 file"):
        decode(bad, "f")


def test_a_checkpoint_file_round_trips_every_kind_of_value(tmp_path: Path) -> None:
    state = {"format": "x", "a": [torch.arange(3), (1, 2.5, None, True, "s")], 7: {"b": torch.zeros(0, 2)},
             "h": torch.tensor([1.5], dtype=torch.bfloat16), "s": torch.arange(6).reshape(2, 3).t()}
    write_state(tmp_path / "c.pt", state)
    back = read_state_raw(tmp_path / "c.pt")
    assert back["a"][1] == (1, 2.5, None, True, "s") and back[7]["b"].shape == (0, 2)
    assert torch.equal(back["a"][0], torch.arange(3)) and torch.equal(back["s"], state["s"])
    assert back["h"].dtype == torch.bfloat16 and float(back["h"][0]) == 1.5


def read_state_raw(path: Path) -> Any:
    from pot.replay.checkpoint import decode

    return decode(path.read_bytes(), path)


def test_initial_weights_not_built_from_the_recorded_configuration_are_reported(honest: Run) -> None:
    """Replay takes the first checkpoint as given (an initialisation chosen near a target is Fang et al.'s route);
    it says whether that checkpoint is what the program builds from the recorded configuration."""
    plan = load_plan(honest.proof, trusted_key=honest.signer.public)

    def other_initialisation(config: dict[str, Any]) -> Any:
        program = EXAMPLE.replay_program(config)
        with torch.no_grad():
            program.model[0].bias.add_(1.0)  # as if init.pt were not what the recorded seed gives
        return program

    report = replay_segments(plan, honest.checkpoints, other_initialisation, indexes=[1])
    assert report.ok and report.initialisation == "different"


def test_a_training_script_that_fails_refuses_its_segment_and_a_failing_entry_is_a_usage_error(honest: Run) -> None:
    plan = load_plan(honest.proof, trusted_key=honest.signer.public)

    def broken(config: dict[str, Any]) -> Any:
        program = EXAMPLE.replay_program(config)
        program.step = lambda batch: 1 / 0
        return program

    with pytest.raises(ReplayError, match="segment 2, .*the training script raised ZeroDivisionError"):
        replay_segments(plan, honest.checkpoints, broken, indexes=[2])

    def missing(config: dict[str, Any]) -> Any:
        return EXAMPLE.replay_program({})

    with pytest.raises(UsageError, match="the entry point raised KeyError"):
        replay_segments(plan, honest.checkpoints, missing, indexes=[2])


class ScheduledProgram(EXAMPLE.DigitsProgram):  # type: ignore[misc,name-defined]
    """The example's program with a learning rate that decays after every step, computed from the scheduler's step
    count (so the optimizer's state alone does not say the next rate: the files must hold the scheduler's)."""

    def __init__(self, config: dict[str, Any], data: Any = None) -> None:
        super().__init__(config, data)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 1 / (1 + 0.05 * step))

    def step(self, batch: Batch) -> float:
        loss: float = super().step(batch)
        self.scheduler.step()
        return loss


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return train(tmp_path_factory.mktemp("scheduled"), program_class=ScheduledProgram)


def test_a_scheduler_starts_each_segment_from_the_state_in_its_file(scheduled: Run) -> None:
    """Each file holds the scheduler's state at its step, and a replay loads it: segments 2 and 3 start at the
    rates of their steps, though the program's scheduler is fresh (segment 1 is not replayed before them)."""
    names = ["init.pt", *(f"epoch-{e:03d}.pt" for e in range(EPOCHS))]
    assert [read_state(scheduled.checkpoints / n)["scheduler"]["last_epoch"] for n in names] == [0, 23, 46, 69]
    report = replay(scheduled, lambda config: ScheduledProgram(config), indexes=[2, 3])
    assert [(r.segment.index, r.outcome) for r in report.results] == [(2, "exact"), (3, "exact")]


def test_a_scheduler_state_without_a_scheduler_or_a_scheduler_without_its_state_is_refused(
        scheduled: Run, honest: Run) -> None:
    with pytest.raises(ReplayError) as caught:  # files with a scheduler's state, a program without a scheduler
        replay(scheduled, indexes=[2])
    assert caught.value.report.results[0].detail == (
        "epoch-000.pt holds a learning-rate scheduler's state and the program has no scheduler to load it into: its "
        "rates would not be the recorded ones")
    with pytest.raises(ReplayError) as caught:  # files without one, a program with a scheduler
        replay(honest, lambda config: ScheduledProgram(config), indexes=[2])
    assert caught.value.report.results[0].detail == (
        "the program has a learning-rate scheduler and epoch-000.pt holds no scheduler state to start it from: its "
        "rates would not be the recorded ones")
