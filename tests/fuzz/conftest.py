"""Fixtures of the fuzz suite: real proofs written once per session, and the hypothesis settings every fuzz test
uses (derandomized, no example database: the same examples on every machine, so CI is reproducible)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from pot import ProvenanceProof, verify_proof

from .corpus import Proofs, record_every_kind

# POT_FUZZ_LONG=1: ten times the examples, for a longer search than the test command's minute allows.
SCALE = 10 if os.environ.get("POT_FUZZ_LONG") == "1" else 1


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        derandomize=True,
        database=None,
        # Per example; examples take milliseconds. Hangs are caught by mutate.no_hang, which stops one in its tracks.
        deadline=10_000,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=False,
        # Shrinking a failure takes longer than finding it (tens of seconds per test on this machine), and every
        # example carries a note saying what was mutated: the test command only generates; POT_FUZZ_LONG shrinks.
        phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if SCALE > 1 else []),
    )


@pytest.fixture(scope="session")
def proofs(tmp_path_factory: pytest.TempPathFactory) -> Proofs:
    recorded = record_every_kind(tmp_path_factory.mktemp("fuzz-proofs"))
    for name, text in recorded.texts.items():  # a property "the mutant does not verify" needs a base that does
        assert verify_proof(ProvenanceProof.from_json(text)).ok, name
    return recorded


@pytest.fixture(scope="session")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")
