"""Chain fixtures: real anvil nodes from the pinned npm package, and a deployed registry. Store fixtures: a real
PostgreSQL server, and ``store_target``, which runs a test on each store backend.

``npm install --ignore-scripts`` in the repository root installs anvil (its binary comes in a per-platform package).

Tests that use them are marked ``chain``. Without the binary they are skipped locally with the reason; under CI
(``CI=true``) a missing binary fails them instead, so a broken install can never pass as "skipped".

Tests on PostgreSQL are marked ``postgres``. They are never skipped unless asked (``POT_SKIP_POSTGRES=1``): without
the server binaries they fail, saying how to install them (scripts/test.sh installs Debian's ``postgresql``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pot.config import ChainSettings, Secret
from tests.support.anvil import ANVIL_BINARY, ROOT, Anvil, anvil_available
from tests.support.postgres import SKIP_ENV, PostgresServer


def _require_anvil() -> None:
    if anvil_available():
        return
    reason = (f"anvil binary not found at {ANVIL_BINARY.relative_to(ROOT)}: run `npm install --ignore-scripts` in the "
              "repository root")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """One anvil for the session (chain id 31337). Tests on it must not depend on its block or nonce state."""
    _require_anvil()
    with Anvil(chain_id=31337) as node:
        yield node


@pytest.fixture
def fresh_anvil() -> Iterator[Anvil]:
    """An anvil of its own, for tests that stop it, mine on it or need its accounts untouched."""
    _require_anvil()
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def anvil_polygon() -> Iterator[Anvil]:
    """An anvil that reports Polygon's chain id (137), so the POA middleware path runs."""
    _require_anvil()
    with Anvil(chain_id=137) as node:
        yield node


@dataclass(frozen=True)
class DeployedRegistry:
    anvil: Anvil
    address: str

    def settings(self, account: int = 0, **changes: object) -> ChainSettings:
        """Chain settings for this registry, signing with anvil dev account ``account``."""
        base = ChainSettings(rpc_url=self.anvil.url, private_key=Secret(self.anvil.private_keys[account]),
                             contract_address=self.address, chain_id=self.anvil.chain_id)
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def deployed_registry(anvil: Anvil) -> DeployedRegistry:
    """A ProvenanceRegistry freshly deployed (from the committed artifact) on the session anvil, by account 9."""
    from pot.anchors.ethereum import deploy_registry

    deployer = ChainSettings(rpc_url=anvil.url, private_key=Secret(anvil.private_keys[9]), chain_id=anvil.chain_id)
    return DeployedRegistry(anvil, deploy_registry(deployer))


# --- PostgreSQL ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session, in a temporary directory on a free port, stopped by pid at the end."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: the PostgreSQL tests were asked to be skipped")
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server (its URL, password included)."""
    return postgres_server.create_database()


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's store lives: SQLite in ``root``, or PostgreSQL at ``database`` (``root`` holding the key)."""

    root: Path
    database: str | None

    @property
    def backend(self) -> str:
        return "sqlite" if self.database is None else "postgresql"

    def open(self, *, create: bool = True) -> Any:
        from pot.log.store import open_store

        return open_store(self.database, root=self.root, create=create)

    def config(self, **settings: Any) -> Any:
        from pot.config import ProvenanceConfig

        return ProvenanceConfig(enabled=True, store_dir=str(self.root), database_url=self.database, **settings)

    def cli(self) -> list[str]:
        """The global flags that name this store on the command line."""
        return ["--store", str(self.root), *(["--database", self.database] if self.database else [])]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """The same test on each backend: SQLite in a directory, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return StoreTarget(tmp_path / "store", None)
    return StoreTarget(tmp_path / "store", request.getfixturevalue("postgres_url"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI every test must run: a skip there means something the suite needs is missing (an extra, the
    anvil binary, an asset), and a green run would hide it."""
    if os.environ.get("CI", "").lower() != "true" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if skipped:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; every test must run in CI", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
