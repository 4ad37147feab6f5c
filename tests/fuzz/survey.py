"""Run the proof mutators many times without stopping at the first failure, and print every distinct failure.

    .venv/bin/python -m tests.fuzz.survey [--examples N] [--seed S]

The fuzz tests stop at the first failing example (and shrink it); whoever fixes the bugs wants the whole list.
Failures are grouped by cause: an exception that escaped (its type, the innermost frame in pot/ and the innermost
frame overall), a verifier check that broke on the input (re-run outside the verifier's catch-all to see where),
a hang, or a mutation that still verifies (by the path it changed, array indexes generalised to ``*``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pot import ProvenanceProof
from pot.errors import PotError

from .corpus import ROOT, record_every_kind
from .mutate import BrokenCheck, Hang, Mutant, json_equal, mutate_once, outcome, reread, text_mutation

T = TypeVar("T")


@dataclass
class Group:
    count: int = 0
    examples: list[str] = field(default_factory=list)


def where(tb: Any) -> tuple[str, str]:
    """(innermost frame in pot/, innermost frame) of a traceback, as path:line relative to the repository."""
    frames = traceback.extract_tb(tb)
    def name(frame: traceback.FrameSummary) -> str:
        path = Path(frame.filename)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else Path(*path.parts[-2:])
        return f"{shown}:{frame.lineno} ({frame.name})"
    ours = [f for f in frames if "/pot/" in f.filename and "/tests/" not in f.filename]
    return (name(ours[-1]) if ours else "-", name(frames[-1]) if frames else "-")


def broken_checks(proof: ProvenanceProof) -> list[tuple[str, BaseException]]:
    """Run the verifier's checks one by one without its catch-all, to see where one breaks."""
    from pot.lineage.events import check_events
    from pot.log import verify as v

    report = v.VerificationReport(model_id=proof.model_id, disclosure=proof.disclosure, record_count=0, log_size=0,
                                  signer_key_id="", signer_pinned=False,
                                  heads=[v.HeadStatus(e.head.tree_size, e.head.root_hash, e.head.timestamp)
                                         for e in proof.tree_heads])
    checks: list[tuple[str, Callable[[], Any]]] = [
        ("signer", lambda: v._check_signer(proof, None, report)),
        ("records", lambda: v._check_records(proof)),
        ("tree-heads", lambda: v._check_heads(proof)),
        ("consistency", lambda: v._check_consistency(proof)),
        ("inclusion", lambda: v._check_inclusion(proof)),
        ("timestamps", lambda: v._check_timestamps(proof)),
        ("lineage", lambda: check_events(proof.records, complete=proof.disclosure == "full")),
        ("anchors", lambda: v._check_anchors(proof, report)),
        ("summary", lambda: v._check_summary(proof)),
        ("proof-signature", lambda: v._check_proof_signature(proof)),
    ]
    out = []
    for name, check in checks:
        try:
            check()
        except PotError:
            pass
        except Exception as exc:
            out.append((name, exc))
    return out


def pattern(description: str) -> str:
    return re.sub(r"/\d+", "/*", description)


def survey(examples: int, seed: int) -> dict[str, Group]:
    groups: dict[str, Group] = {}

    def add(key: str, example: str) -> None:
        group = groups.setdefault(key, Group())
        group.count += 1
        if len(group.examples) < 3:
            group.examples.append(example[:300])

    rng = random.Random(seed)

    def choose(options: Sequence[T], label: str) -> T:
        return options[rng.randrange(len(options))]

    with tempfile.TemporaryDirectory() as tmp:
        proofs = record_every_kind(Path(tmp))
    for i in range(examples):
        raw = i % 2 == 0
        name = choose(proofs.names(), "proof")
        original = json.loads(proofs.texts[name])
        mutant = Mutant(original)
        for _ in range(rng.randint(1, 3)):
            mutate_once(mutant, choose, raw=raw)
        if raw and rng.randrange(10) == 0:
            text_mutation(mutant, choose)
        data: Any = mutant.serialise() if raw else mutant.document
        example = f"[{'text' if raw else 'mapping'}] {name}: {mutant.description}"
        try:
            result = outcome(data)
        except BrokenCheck:
            proof = ProvenanceProof.from_json(data)
            for check, exc in broken_checks(proof):
                pot_frame, inner = where(exc.__traceback__)
                add(f"BROKEN CHECK {check}: {type(exc).__name__} at {pot_frame} (innermost {inner})", example)
            continue
        except Hang:
            add("HANG", example)
            continue
        except Exception as exc:
            pot_frame, inner = where(exc.__traceback__)
            add(f"ESCAPED {type(exc).__name__} at {pot_frame} (innermost {inner}): {str(exc)[:100]}", example)
            continue
        if result.verified:
            changed = not json_equal(reread(data) if raw else data, original)
            if changed:
                add(f"VERIFIES AFTER {pattern(mutant.description)}", example)
    return groups


def hostile_proofs() -> None:
    """Each indexed hostile proof: refused (and by which check), verified, or the exception and where."""
    from .test_hostile_corpus import INDEX

    for name in sorted(INDEX):
        data = (ROOT / "tests" / "assets" / "hostile" / name).read_bytes()
        try:
            result = outcome(data)
        except BrokenCheck:
            found = broken_checks(ProvenanceProof.from_json(data))
            print(f"{name}: BROKEN CHECK " + "; ".join(
                f"{check}: {type(exc).__name__} at {where(exc.__traceback__)[0]}" for check, exc in found))
            continue
        except Exception as exc:
            pot_frame, inner = where(exc.__traceback__)
            print(f"{name}: ESCAPED {type(exc).__name__} at {pot_frame} (innermost {inner})")
            continue
        print(f"{name}: {result.stage}" + (f" ({result.check}: {result.message[:100]})" if not result.verified
                                             else ""))


def hostile_command_lines() -> None:
    """Each hostile command line: the exit codes it gives, or the exception and where (POT_DEBUG is set)."""
    from .cli import expand_all, make_store, run
    from .test_hostile_corpus import CLI_CASES, corrupt

    for name in sorted(CLI_CASES):
        case = CLI_CASES[name]
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "store"
            make_store(store)
            if "corrupt" in case:
                corrupt(store, case["corrupt"])
            outcomes = []
            for step in case["steps"]:
                argv = [a.replace("{dir}", tmp) for a in expand_all(step["argv"])]
                try:
                    result = run(store, *argv)
                except Exception as exc:
                    pot_frame, inner = where(exc.__traceback__)
                    outcomes.append(f"{argv[0]}: {type(exc).__name__} at {pot_frame} (innermost {inner})")
                    continue
                outcomes.append(f"{argv[0]}: exit {result.code} (expected {step['exit_code']})"
                                + (f" {result.err.strip()[:90]!r}" if result.code else ""))
            print(f"{name}: " + "; ".join(outcomes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hostile", action="store_true", help="instead: the outcome of every hostile input")
    args = parser.parse_args()
    if args.hostile:
        hostile_proofs()
        hostile_command_lines()
        return
    groups = survey(args.examples, args.seed)
    for key in sorted(groups, key=lambda k: (k.split()[0], -groups[k].count)):
        group = groups[key]
        print(f"{group.count:5d}  {key}")
        for example in group.examples:
            print(f"         e.g. {example}")
    if not groups:
        print(f"no failures in {args.examples} examples")


if __name__ == "__main__":
    main()
