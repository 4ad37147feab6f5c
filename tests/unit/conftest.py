"""Fixtures for unit tests: a fresh store, a deterministic clock, recorders on them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.log.keys import SigningKey
from tests.support.audit import Audited, make_audit_store


class StepClock:
    """A clock that advances one millisecond per reading, so timestamps are distinct and ordered."""

    def __init__(self, start: datetime = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def make_recorder(store_dir: Path) -> Iterator[Callable[..., ProvenanceRecorder]]:
    made: list[ProvenanceRecorder] = []

    def make(**config: object) -> ProvenanceRecorder:
        clock = config.pop("clock", None)
        settings = {"enabled": True, "store_dir": str(store_dir), **config}
        recorder = ProvenanceRecorder(ProvenanceConfig(**settings), clock=clock)  # type: ignore[arg-type]
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close()


@pytest.fixture
def recorder(make_recorder: Callable[..., ProvenanceRecorder]) -> ProvenanceRecorder:
    return make_recorder()


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.from_seed(bytes(range(32)))


def digest(n: int) -> str:
    """A distinct, valid-looking 64-hex model hash for record n."""
    return f"{n:064x}"


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    """A store with two recorded runs and their proofs, as an auditor receives them (tests/support/audit.py)."""
    return make_audit_store(tmp_path_factory.mktemp("audit"))
