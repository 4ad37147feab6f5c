#!/usr/bin/env python3
"""Compile contracts/ProvenanceRegistry.sol into the committed artifacts pot deploys from.

    python scripts/compile_contracts.py           # write contracts/build/ and pot/contracts/
    python scripts/compile_contracts.py --check   # recompile; exit 1 if a committed artifact differs

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
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = "ProvenanceRegistry"
SOURCE_NAME = f"contracts/{CONTRACT}.sol"  # the key in standard JSON; it is hashed into the bytecode's metadata
SOLC_VERSION = "0.8.37"
SOLC_JS = ROOT / "node_modules" / "solc" / "solc.js"
_NPM_CI = "`npm install --ignore-scripts` in the repository root"  # the pinned packages need no install scripts
ARTIFACTS = (ROOT / "contracts" / "build" / f"{CONTRACT}.json", ROOT / "pot" / "contracts" / f"{CONTRACT}.json")
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


def _compile_js(standard_input: dict[str, Any]) -> tuple[dict[str, Any], str]:
    node = _node()
    run = subprocess.run([node, str(SOLC_JS), "--standard-json"], input=json.dumps(standard_input),
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise BuildError(f"solc-js failed ({run.returncode}): {run.stderr.strip()[:500]}")
    # solc-js prints notices such as ">>> Cannot retry compilation with SMT ..." before its JSON.
    text = "\n".join(line for line in run.stdout.splitlines() if not line.startswith(">>>"))
    try:
        output = json.loads(text)
    except ValueError as exc:
        raise BuildError(f"solc-js printed something that is not JSON: {exc}") from exc
    version = subprocess.run([node, str(SOLC_JS), "--version"], capture_output=True, text=True, check=True)
    return output, version.stdout.strip()


def build() -> tuple[dict[str, Any], str]:
    """Compile and return (artifact, which compiler)."""
    source = (ROOT / SOURCE_NAME).read_bytes()
    standard_input = {"language": "Solidity", "sources": {SOURCE_NAME: {"content": source.decode("utf-8")}},
                      "settings": SETTINGS}
    solc = _native_solc()
    output, long_version = _compile_native(solc, standard_input) if solc else _compile_js(standard_input)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("solc: " + "; ".join(e.get("formattedMessage", e.get("message", "?")).strip()
                                              for e in errors))
    if not long_version.startswith(SOLC_VERSION + "+"):
        raise BuildError(f"compiler is {long_version}, not solc {SOLC_VERSION}")
    compiled = output["contracts"][SOURCE_NAME][CONTRACT]
    artifact = {
        "contractName": CONTRACT,
        "abi": compiled["abi"],
        "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        "compiler": {"version": long_version, "settings": SETTINGS},
        "sourceSha256": hashlib.sha256(source).hexdigest(),
    }
    return artifact, ("native solc " if solc else "solc-js ") + long_version


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
    try:
        artifact, compiler = build()
    except BuildError as exc:
        print(f"compile_contracts: {exc}", file=sys.stderr)
        return 2
    text = render(artifact)
    if args.check:
        stale = []
        for path in ARTIFACTS:
            if not _matches(path, artifact):
                stale.append(str(path.relative_to(ROOT)))
        if stale:
            print(f"compile_contracts: {', '.join(stale)} differ(s) from a fresh build with {compiler}; "
                  "run python scripts/compile_contracts.py and commit the result", file=sys.stderr)
            return 1
        print(f"compile_contracts: committed artifacts match a fresh build with {compiler}")
        return 0
    for path in ARTIFACTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"compile_contracts: wrote {', '.join(str(p.relative_to(ROOT)) for p in ARTIFACTS)} with {compiler}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
