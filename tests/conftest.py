"""Chain fixtures: real anvil nodes from the pinned npm package, and a deployed registry.

``npm install --ignore-scripts`` in the repository root installs anvil (its binary comes in a per-platform package).

Tests that use them are marked ``chain``. Without the binary they are skipped locally with the reason; under CI
(``CI=true``) a missing binary fails them instead, so a broken install can never pass as "skipped".
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pot.config import ChainSettings, Secret
from tests.support.anvil import ANVIL_BINARY, ROOT, Anvil, anvil_available


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
