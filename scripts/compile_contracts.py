#!/usr/bin/env python3
"""Compile the contracts in contracts/ into the committed artifacts (pot deploys the registry from them).

    python scripts/compile_contracts.py           # write contracts/build/ and pot/contracts/
    python scripts/compile_contracts.py --check   # recompile; exit 1 if a committed artifact differs

Each contract of ``TARGETS`` is compiled on its own, with exactly the sources it imports (found by following its
``import`` lines), so adding a contract never changes another's bytecode. ProvenanceRegistry's artifact goes to
contracts/build/ and into the package (pot/contracts/); the example and the test harness only to contracts/build/.

Compiler: solc 0.8.37 (the contract's exact pragma), ``evmVersion`` cancun, optimizer on with 200 runs. A native
solc 0.8.37 is used through py-solc-x when one is installed (in py-solc-x's folder or as ``solc`` on PATH); else
solc-js from the pinned npm package (``npm install --ignore-scripts`` at the repository root). Both produce the same
bytecode: the source path, source text and settings are the same, and the metadata hash embedded in the bytecode
names only ``0.8.37+commit.<hash>``. The artifact records the compiler's full long version, whose platform
suffix (``.Emscripten.clang`` for solc-js) differs between the two; ``--check`` ignores that suffix and nothing
else.

The output is deterministic: sorted keys, two-space indent, a trailing newline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOLC_VERSION = "0.8.37"
SOLC_JS = ROOT / "node_modules" / "solc" / "solc.js"
_NPM_CI = "`npm install --ignore-scripts` in the repository root"  # the pinned packages need no install scripts
BUILD = ROOT / "contracts" / "build"
# (source path, which is the key in standard JSON and is hashed into the bytecode's metadata; contract; artifacts)
TARGETS: tuple[tuple[str, str, tuple[Path, ...]], ...] = (
    ("contracts/ProvenanceRegistry.sol", "ProvenanceRegistry",
     (BUILD / "ProvenanceRegistry.json", ROOT / "pot" / "contracts" / "ProvenanceRegistry.json")),
    ("contracts/examples/ValidationEscrow.sol", "ValidationEscrow", (BUILD / "ValidationEscrow.json",)),
    ("contracts/test/RFC9162Harness.sol", "RFC9162Harness", (BUILD / "RFC9162Harness.json",)),
)
ARTIFACTS = tuple(path for _, _, paths in TARGETS for path in paths)
_IMPORT = re.compile(r'^\s*import\s+(?:\{[^}]*\}\s+from\s+)?"([^"]+)"\s*;', re.MULTILINE)
SETTINGS: dict[str, Any] = {
    "evmVersion": "cancun",
    "optimizer": {"enabled": True, "runs": 200},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]}},
}


class BuildError(Exception):
    pass


def _native_solc() -> Path | None:
    """A native solc 0.8.37 that py-solc-x can drive, or None."""
    try:
        import solcx
        from solcx import wrapper
    except ImportError:
        return None
    try:
        if any(str(v) == SOLC_VERSION for v in solcx.get_installed_solc_versions()):
            return Path(solcx.get_executable(SOLC_VERSION))
    except Exception:  # a broken py-solc-x folder is no reason to stop: solc-js remains
        pass
    on_path = shutil.which("solc")
    if on_path is not None:
        try:
            if str(wrapper.get_solc_version(on_path)) == SOLC_VERSION:
                return Path(on_path)
        except Exception:
            pass
    return None


def _compile_native(solc: Path, standard_input: dict[str, Any]) -> tuple[dict[str, Any], str]:
    import solcx
    from solcx import wrapper

    output = solcx.compile_standard(standard_input, solc_binary=solc)
    version = wrapper.get_solc_version(solc, with_commit_hash=True)
    # py-solc-x drops the platform suffix; ask the binary itself for the full long version.
    banner = subprocess.run([str(solc), "--version"], capture_output=True, text=True, check=True).stdout
    long_version = banner.strip().splitlines()[-1].removeprefix("Version: ").strip() or str(version)
    return output, long_version


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise BuildError(f"no native solc 0.8.37 and no node to run solc-js: install Node.js and run {_NPM_CI}")
    if not SOLC_JS.is_file():
        raise BuildError(f"no native solc 0.8.37 and no solc-js at {SOLC_JS.relative_to(ROOT)}: run {_NPM_CI}")
    return node


# solc-js's own command line writes its JSON to a pipe and exits, and node cuts a piped stdout short on exit once
# the output passes 64 KiB. This drives the same package through its API and writes the answer to a file instead.
_SOLC_JS_DRIVER = (
    "const fs = require('fs'); const solc = require(process.argv[1]);"
    "fs.writeFileSync(process.argv[2], solc.compile(fs.readFileSync(0, 'utf8')));"
    "fs.writeFileSync(process.argv[3], solc.version());"
)


def _compile_js(standard_input: dict[str, Any]) -> tuple[dict[str, Any], str]:
    import tempfile

    node = _node()
    with tempfile.TemporaryDirectory() as scratch:
        out, version = Path(scratch) / "out.json", Path(scratch) / "version.txt"
        run = subprocess.run([node, "-e", _SOLC_JS_DRIVER, str(SOLC_JS.parent), str(out), str(version)],
                             input=json.dumps(standard_input), capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise BuildError(f"solc-js failed ({run.returncode}): {run.stderr.strip()[:500]}")
        try:
            output = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BuildError(f"solc-js wrote something that is not JSON: {exc}") from exc
        return output, version.read_text(encoding="utf-8").strip()


def _closure(source_name: str) -> dict[str, str]:
    """``source_name`` and every source it imports, directly or not: {source name: text}."""
    sources: dict[str, str] = {}
    todo = [source_name]
    while todo:
        name = todo.pop()
        if name in sources:
            continue
        path = ROOT / name
        if not path.is_file():
            raise BuildError(f"{name} is imported but does not exist")
        sources[name] = path.read_bytes().decode("utf-8")
        for target in _IMPORT.findall(sources[name]):
            if not target.startswith("."):
                raise BuildError(f"{name}: import {target!r} is not relative; contracts import only each other")
            todo.append(_normal(f"{Path(name).parent.as_posix()}/{target}"))
    return dict(sorted(sources.items()))


def _normal(name: str) -> str:
    """A source name with ``.`` and ``..`` resolved, as solc resolves a relative import."""
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def build_one(source_name: str, contract: str) -> tuple[dict[str, Any], str]:
    """Compile one contract and return (artifact, which compiler)."""
    sources = _closure(source_name)
    standard_input = {"language": "Solidity", "sources": {name: {"content": text} for name, text in sources.items()},
                      "settings": SETTINGS}
    solc = _native_solc()
    output, long_version = _compile_native(solc, standard_input) if solc else _compile_js(standard_input)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("solc: " + "; ".join(e.get("formattedMessage", e.get("message", "?")).strip()
                                              for e in errors))
    if not long_version.startswith(SOLC_VERSION + "+"):
        raise BuildError(f"compiler is {long_version}, not solc {SOLC_VERSION}")
    compiled = output["contracts"][source_name][contract]
    artifact = {
        "contractName": contract,
        "abi": compiled["abi"],
        "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        "compiler": {"version": long_version, "settings": SETTINGS},
        "sourceSha256": hashlib.sha256(sources[source_name].encode("utf-8")).hexdigest(),
        "sources": {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in sources.items()},
    }
    return artifact, ("native solc " if solc else "solc-js ") + long_version


def build() -> tuple[dict[str, Any], str]:
    """Compile the registry and return (artifact, which compiler); kept for callers of the one-contract script."""
    source_name, contract, _ = TARGETS[0]
    return build_one(source_name, contract)


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def _comparable(artifact: dict[str, Any]) -> dict[str, Any]:
    """The artifact with the compiler's platform suffix cut, so native solc and solc-js builds compare equal."""
    copy = json.loads(json.dumps(artifact))
    version = str(copy.get("compiler", {}).get("version", ""))
    base, plus, rest = version.partition("+")
    commit = rest.split(".", 2)[:2]  # "commit.f401782d"
    if plus and "compiler" in copy:
        copy["compiler"]["version"] = base + plus + ".".join(commit)
    return copy


def _matches(path: Path, artifact: dict[str, Any]) -> bool:
    """Byte for byte what this build writes, but for the compiler's platform suffix."""
    try:
        text = path.read_text(encoding="utf-8")
        committed = json.loads(text)
    except (OSError, ValueError):
        return False
    if text == render(artifact):
        return True
    return text == render(committed) and render(_comparable(committed)) == render(_comparable(artifact))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="recompile and exit 1 if a committed artifact differs from the fresh build")
    args = parser.parse_args(argv)
    built: list[tuple[tuple[Path, ...], dict[str, Any]]] = []
    try:
        for source_name, contract, paths in TARGETS:
            artifact, compiler = build_one(source_name, contract)
            built.append((paths, artifact))
    except BuildError as exc:
        print(f"compile_contracts: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = [str(path.relative_to(ROOT)) for paths, artifact in built for path in paths
                 if not _matches(path, artifact)]
        if stale:
            print(f"compile_contracts: {', '.join(stale)} differ(s) from a fresh build with {compiler}; "
                  "run python scripts/compile_contracts.py and commit the result", file=sys.stderr)
            return 1
        print(f"compile_contracts: committed artifacts match a fresh build with {compiler}")
        return 0
    for paths, artifact in built:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(artifact), encoding="utf-8")
    print(f"compile_contracts: wrote {', '.join(str(p.relative_to(ROOT)) for p in ARTIFACTS)} with {compiler}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
