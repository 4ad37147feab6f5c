"""The Transformers TrainerCallback on a real (tiny) Trainer run: steps, epochs, evaluations, saved directories."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sklearn.datasets import load_digits  # noqa: E402

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof  # noqa: E402
from pot.cli import main  # noqa: E402
from pot.errors import ReplayError, UsageError  # noqa: E402
from pot.integrations.huggingface import (  # noqa: E402
    INDEX_KEY,
    IndexedDataset,
    ProvenanceTrainerCallback,
    ReplayTrainer,
    TrainerReplayProgram,
)
from pot.integrations.torch import model_hash  # noqa: E402
from pot.log.verify import find_checkpoint_file  # noqa: E402
from pot.replay import ReplayPlan, replay_plan  # noqa: E402
from pot.replay.torch import (  # noqa: E402
    ReplayReport,
    batch_digest,
    optimizer_digest,
    read_state,
    replay_segments,
    rng_digest,
    state_digest,
    write_state,
)


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


# --- recording for replay (docs/REPLAY.md) ----------------------------------------------------------------------

STEPS_PER_EPOCH = 4  # 64 samples in batches of 16


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


class SeeingTrainer(ReplayTrainer):  # type: ignore[misc]
    """A ReplayTrainer that keeps the sample indices each training step was given, to check the digests against."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[Any] = []

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        self.seen.append(inputs[INDEX_KEY].clone())
        return super().training_step(model, inputs, num_items_in_batch)


def replay_args(out: Path, **settings: Any) -> Any:
    """Two epochs of four steps, warm-up then linear decay (the scheduler changes the rate every step)."""
    return transformers.TrainingArguments(**{
        "output_dir": str(out), "num_train_epochs": 2, "per_device_train_batch_size": 16, "learning_rate": 3e-3,
        "warmup_steps": 2, "logging_steps": 2, "save_strategy": "no", "report_to": [], "use_cpu": True,
        "disable_tqdm": True, "seed": 0, **settings})


@dataclass
class Recorded:
    proof: ProvenanceProof
    proof_path: Path
    replay_dir: Path
    trainer: Any
    probe: StateProbe

    def plan(self) -> ReplayPlan:
        return replay_plan(self.proof, self.proof_path.read_bytes())


def record(tmp: Path, train: Any = None, callbacks: tuple[Any, ...] = (), reseed: int | None = None) -> Recorded:
    """A ReplayTrainer run recorded for replay, evaluating each epoch (between the recorded states); ``reseed``
    reseeds torch's generator after the Trainer is built (and seeded), before it trains."""
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp / "store")))
    callback = ProvenanceTrainerCallback(recorder, model_id="bert-digits", proof_path=tmp / "proof.json",
                                         record_replay=True, replay_dir=tmp / "replay")
    probe = StateProbe()
    trainer = SeeingTrainer(model=tiny_bert(), args=replay_args(tmp / "out", eval_strategy="epoch"),
                            train_dataset=IndexedDataset(train if train is not None else Digits(0, 64)),
                            eval_dataset=Digits(1500, 1540), callbacks=[*callbacks, callback, probe])
    if reseed is not None:
        torch.manual_seed(reseed)
    trainer.train()
    recorder.close()
    proof = ProvenanceProof.load(tmp / "proof.json")
    verify_proof(proof, trusted_key=recorder.public_key)
    return Recorded(proof, tmp / "proof.json", tmp / "replay", trainer, probe)


def replay_program(tmp: Path, **settings: Any) -> Callable[[Any], TrainerReplayProgram]:
    """The entry point a verifier runs: a fresh ReplayTrainer on its own copy of the data, with the arguments the
    run recorded (``settings`` overrides some, as a program that ignores the record would)."""
    def build(config: Any) -> TrainerReplayProgram:
        args = replay_args(tmp / "replay-out", **{
            "learning_rate": config["learning_rate"], "seed": config["seed"],
            "num_train_epochs": config["num_train_epochs"], "warmup_steps": config["warmup_steps"],
            "per_device_train_batch_size": config["per_device_train_batch_size"], **settings})
        trainer = ReplayTrainer(model=tiny_bert(), args=args, train_dataset=IndexedDataset(Digits(0, 64)))
        return TrainerReplayProgram(trainer, config)
    return build


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("honest"))


def test_record_replay_records_every_step_with_its_batch_and_checkpoint_files(honest: Recorded) -> None:
    proof, trainer = honest.proof, honest.trainer
    blocks = [r for r in proof.records if r.KIND == "steps"]
    steps = [s for r in blocks for s in r.steps]  # type: ignore[attr-defined]
    epochs = [e for r in blocks for e in r.epochs]  # type: ignore[attr-defined]
    batches = [b for r in blocks for b in r.batches]  # type: ignore[attr-defined]
    metrics = {name: [v for r in blocks for v in r.metrics.get(name, [None] * len(r.steps))]  # type: ignore
               for name in ("loss", "learning_rate", "grad_norm")}
    # every step once, in order, with its epoch; each batch digest is that of the samples the step was given,
    # recomputed from the test's own data at those indices (positions, order and bytes)
    assert steps == list(range(1, 9)) and epochs == [0] * 4 + [1] * 4 and len(trainer.seen) == 8
    data = Digits(0, 64)
    assert batches == [batch_digest(i, {"input_ids": data.ids[i], "labels": data.labels[i]}) for i in trainer.seen]
    for epoch in (0, 1):  # each epoch draws every sample once, in a shuffled order
        drawn = torch.cat(trainer.seen[4 * epoch:4 * epoch + 4]).tolist()
        assert sorted(drawn) == list(range(64)) and drawn != list(range(64))
    # each step's own loss and rate (warm-up over 2 steps, then linear decay to 0 at step 8); the Trainer's
    # gradient norm on the steps it logged
    assert all(isinstance(v, float) for v in metrics["loss"])
    assert metrics["learning_rate"] == pytest.approx([0, 1.5e-3, 3e-3, 2.5e-3, 2e-3, 1.5e-3, 1e-3, 5e-4])
    assert [v is not None for v in metrics["grad_norm"]] == [False, True] * 4

    # a checkpoint file before the first step and after each epoch, with the live optimizer's and generators'
    # digests at that moment, and the scheduler's state in the file
    replayable = [c for c in proof.training_chain if c.optimizer_hash is not None]
    assert [(c.file_name, c.epoch, c.step) for c in replayable] == [
        ("init.pt", 0, 0), ("epoch-000.pt", 0, 4), ("epoch-001.pt", 1, 8)]
    assert [(c.step, c.optimizer_hash, c.rng_hash) for c in replayable] == honest.probe.seen
    for record in replayable:
        path = honest.replay_dir / str(record.file_name)
        saved = read_state(path)
        assert record.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert record.model_hash == model_hash(saved["model"])
        assert record.optimizer_hash == state_digest(saved["optimizer"])
        assert record.rng_hash == state_digest(saved["rng"])
        assert saved["scheduler"]["last_epoch"] == record.step
    assert replayable[-1].model_hash == model_hash(trainer.model) == proof.final_model_hash


def test_a_trainer_run_replays_bit_for_bit(honest: Recorded, tmp_path: Path) -> None:
    """The verifier's program, built from the recorded configuration, draws each epoch's batches as the Trainer's
    loader drew them and steps as the Trainer stepped: both segments reach the recorded weights exactly, the
    second from the file's scheduler, optimizer and generators (BERT's dropout draws from them), replayed alone
    by a fresh program (whose loader and scheduler are at their start)."""
    second = replay_segments(honest.plan(), honest.replay_dir, replay_program(tmp_path), indexes=[2])
    report = replay_segments(honest.plan(), honest.replay_dir, replay_program(tmp_path))
    assert [(r.segment.name, r.outcome) for r in (*second.results, *report.results)] == [
        ("epoch 1 (steps 5-8)", "exact"), ("epoch 0 (steps 1-4)", "exact"), ("epoch 1 (steps 5-8)", "exact")]
    assert report.initialisation == "same"  # init.pt is what the entry builds from the recorded seed
    config = honest.plan().config
    assert (config["sampler_seed"], config["threads"]) == (0, torch.get_num_threads())


def test_the_data_order_comes_from_the_recorded_sampler_seed(tmp_path: Path) -> None:
    """Reseeded after the Trainer seeded it, the loader shuffles from another seed than the arguments say: the run
    records that seed, and the replay's loader shuffles from it."""
    run = record(tmp_path, reseed=7)
    assert run.plan().config["sampler_seed"] == 7 and run.plan().config["seed"] == 0
    report = replay_segments(run.plan(), run.replay_dir, replay_program(tmp_path), indexes=[2])
    assert [r.outcome for r in report.results] == ["exact"]


def refused(report_of: Callable[[], Any]) -> ReplayReport:
    with pytest.raises(ReplayError) as caught:
        report_of()
    report: ReplayReport = caught.value.report
    return report


class Poisoned(Digits):
    """The prover's copy of the data, one sample's pixels changed: a crafted sample the verifier's data lacks."""

    def __init__(self) -> None:
        super().__init__(0, 64)
        self.ids[5] = (self.ids[5] + 3).clamp(max=16)


def test_a_batch_digest_that_does_not_match_the_data_is_refused(tmp_path: Path) -> None:
    run = record(tmp_path, train=Poisoned())
    report = refused(lambda: replay_segments(run.plan(), run.replay_dir, replay_program(tmp_path)))
    poisoned_steps = [1 + n for n, indices in enumerate(run.trainer.seen) if 5 in indices.tolist()]
    assert len(poisoned_steps) == 2  # once an epoch
    assert [r.detail for r in report.results] == [
        f"step {step}: the batch the data gives differs from the batch digest recorded" for step in poisoned_steps]


class HigherRateInEpoch1(transformers.TrainerCallback):  # type: ignore[misc]
    """An attacker's callback, run before pot's: each update of epoch 1 uses three times the scheduled rate, put
    back right after the update, so that the logged rates, the optimizer and the scheduler show the schedule."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any
                              ) -> None:
        if state.global_step >= STEPS_PER_EPOCH:  # the update that makes step global_step + 1
            self.rates = [group["lr"] for group in optimizer.param_groups]
            for group in optimizer.param_groups:
                group["lr"] *= 3

    def on_optimizer_step(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        for group, rate in zip(optimizer.param_groups, self.rates, strict=False):
            group["lr"] = rate
        self.rates = []


def test_a_segment_trained_with_another_learning_rate_is_refused(tmp_path: Path, honest: Recorded) -> None:
    run = record(tmp_path, callbacks=(HigherRateInEpoch1(),))
    recorded_rates = [v for r in run.proof.records if r.KIND == "steps"  # type: ignore[attr-defined]
                      for v in r.metrics["learning_rate"]]
    assert recorded_rates == pytest.approx([0, 1.5e-3, 3e-3, 2.5e-3, 2e-3, 1.5e-3, 1e-3, 5e-4])  # as the schedule
    report = refused(lambda: replay_segments(run.plan(), run.replay_dir, replay_program(tmp_path)))
    assert [r.outcome for r in report.results] == ["exact", "refused"]
    assert report.results[1].detail.startswith("the replayed weights differ from those recorded at step 8")


def test_an_edited_scheduler_state_is_refused(honest: Recorded, tmp_path: Path) -> None:
    """A scheduler state with a higher base rate would replay the second epoch at that rate: the file is no longer
    the one recorded, and the segment it starts is refused; the first, which ends there, reaches the recorded
    weights without it."""
    edited = tmp_path / "replay"
    shutil.copytree(honest.replay_dir, edited)
    state = read_state(edited / "epoch-000.pt")
    state["scheduler"]["base_lrs"] = [rate * 3 for rate in state["scheduler"]["base_lrs"]]
    write_state(edited / "epoch-000.pt", state)
    report = refused(lambda: replay_segments(honest.plan(), edited, replay_program(tmp_path)))
    assert [r.outcome for r in report.results] == ["exact", "refused"]
    assert report.results[1].detail == ("epoch-000.pt is not the checkpoint file recorded at step 4 (its SHA-256 "
                                        "differs)")


def test_a_replay_program_needs_the_recorded_arguments_and_a_scheduler(honest: Recorded, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"has learning_rate=0\.001 where the run recorded 0\.003"):
        replay_segments(honest.plan(), honest.replay_dir, replay_program(tmp_path, learning_rate=1e-3))

    def without_scheduler(config: Any) -> TrainerReplayProgram:
        program = replay_program(tmp_path)(config)
        program.scheduler = None  # a program that steps no scheduler cannot start from the file's
        return program

    report = refused(lambda: replay_segments(honest.plan(), honest.replay_dir, without_scheduler, indexes=[1]))
    assert report.results[0].detail.startswith("init.pt holds a learning-rate scheduler's state and the program has "
                                               "no scheduler")


def _drop_index(features: list[dict[str, Any]]) -> Any:
    return transformers.default_data_collator([{k: v for k, v in f.items() if k != INDEX_KEY} for f in features])


def _with_a_flag(features: list[dict[str, Any]]) -> Any:
    return {**transformers.default_data_collator(features), "return_dict": True}


def _layer_wise(model: Any) -> tuple[Any, None]:
    from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

    # what a layer-wise optimizer is: one optimizer per parameter, stepped from gradient hooks, and a stand-in
    # optimizer for the Trainer that holds none of the model's parameters
    per_parameter = {p: torch.optim.AdamW([p], lr=3e-3) for p in model.parameters()}
    return LayerWiseDummyOptimizer(optimizer_dict=per_parameter, lr=3e-3), None


@pytest.mark.parametrize(("case", "match"), [
    ("plain Trainer", "needs a Trainer that digests each step's inputs"),
    ("dataset without indices", "needs the training dataset wrapped in pot.integrations.huggingface.IndexedDataset"),
    ("collator drops the indices", "carries its samples' indices under 'pot_index' .* this batch has none"),
    ("gradient accumulation", "gradient_accumulation_steps must be 1, not 2"),
    ("layer-wise optimizer", r"\d+ trainable parameter\(s\) of the model \(bert.embeddings.word_embeddings.weight, "
                             r"...\) are not in the Trainer's optimizer"),
    ("input that is not a tensor", "batch input 'return_dict' is a bool, not a tensor"),
    ("scheduler stepped on evaluation", r"steps on evaluation metrics \(ReduceLROnPlateau\)"),
])
def test_record_replay_refuses_what_it_cannot_record_before_the_first_step(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, match: str) -> None:
    store = tmp_path / "store"
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
    callback = ProvenanceTrainerCallback(recorder, model_id="bert-digits", record_replay=True,
                                         replay_dir=tmp_path / "replay")
    model = tiny_bert()
    before = model_hash(model)
    options: dict[str, Any] = {"train_dataset": IndexedDataset(Digits(0, 64))}
    settings: dict[str, Any] = {}
    trainer_class: Any = ReplayTrainer
    if case == "plain Trainer":
        trainer_class = transformers.Trainer
    elif case == "dataset without indices":
        options["train_dataset"] = Digits(0, 64)
    elif case == "collator drops the indices":
        options["data_collator"] = _drop_index
    elif case == "gradient accumulation":
        settings["gradient_accumulation_steps"] = 2
    elif case == "layer-wise optimizer":
        options["optimizers"] = _layer_wise(model)
    elif case == "scheduler stepped on evaluation":
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        options["optimizers"] = (optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer))
    else:
        options["data_collator"] = _with_a_flag
    trainer = trainer_class(model=model, args=replay_args(tmp_path / "out", **settings), callbacks=[callback],
                            **options)
    with pytest.raises(UsageError, match=match):
        trainer.train()
    recorder.close()
    assert model_hash(model) == before  # no step trained
    runs = json.loads(pot(capsys, "--json", "--store", str(store), "runs", "list"))
    assert [(r["status"], r["error"].split(":")[0]) for r in runs] == [("failed", "UsageError")]


def test_record_replay_needs_record_steps() -> None:
    with pytest.raises(UsageError, match="record_replay needs record_steps"):
        ProvenanceTrainerCallback(ProvenanceRecorder(ProvenanceConfig(enabled=False)), record_replay=True,
                                  record_steps=False)


def test_record_replay_records_no_start_file_for_a_resumed_training(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The Trainer restores a resumed run's generators when the epoch starts, after on_train_begin: a start file
    written there would not hold the state training goes on from, so none is recorded, and the callback says so.
    The steps it trains are recorded with their batches."""
    out = tmp_path / "out"
    ReplayTrainer(model=tiny_bert(), args=replay_args(out, num_train_epochs=1, save_strategy="epoch"),
                  train_dataset=IndexedDataset(Digits(0, 64))).train()
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    callback = ProvenanceTrainerCallback(recorder, model_id="bert-digits", proof_path=tmp_path / "proof.json",
                                         record_replay=True, replay_dir=tmp_path / "replay")
    trainer = ReplayTrainer(model=tiny_bert(), args=replay_args(out, save_strategy="epoch"),
                            train_dataset=IndexedDataset(Digits(0, 64)), callbacks=[callback])
    trainer.train(resume_from_checkpoint=str(out / "checkpoint-4"))
    recorder.close()
    proof = ProvenanceProof.load(tmp_path / "proof.json")
    assert [(c.file_name, c.epoch, c.step) for c in proof.training_chain if c.optimizer_hash is not None] == [
        ("epoch-001.pt", 1, 8)]
    assert sorted(p.name for p in (tmp_path / "replay").iterdir()) == ["epoch-001.pt"]
    assert any("training resumes at step 4" in r.getMessage() for r in caplog.records)
    blocks = [r for r in proof.records if r.KIND == "steps"]
    assert [s for r in blocks for s in r.steps] == [5, 6, 7, 8]  # type: ignore[attr-defined]
    assert all(len(r.batches) == len(r.steps) for r in blocks)  # type: ignore[attr-defined]
