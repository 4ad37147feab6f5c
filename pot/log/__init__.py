"""The log core, consensus-critical: what is hashed, signed, stored, proven and verified.

``records`` (record kinds and their bodies), ``canonical`` (the bytes that are hashed and signed), ``merkle`` (the
RFC 9162 tree), ``keys`` (Ed25519), ``heads`` (signed tree heads), ``store`` (SQLite), ``proof`` (the document) and
``verify`` (the verifier). Everything here is frozen by the proof format (docs/PROOF_FORMAT.md).
"""

# The one-pass path registers itself with the records module when imported: load it with the package.
from pot.log import prepared as _prepared  # noqa: F401
