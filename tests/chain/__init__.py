"""Tests against a real chain: anvil from the pinned npm package (see tests/conftest.py)."""

# Imported before any test module imports web3, on purpose: pot.anchors.ethereum keeps the interpreter's recursion
# limit when it imports web3 (see there); were web3 imported first, py_ecc would leave the limit at 100,000 for
# the rest of the session, and the unit tests' hostile deeply-nested proofs would crash the interpreter.
import pot.anchors.ethereum  # noqa: F401
