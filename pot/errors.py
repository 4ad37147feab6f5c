"""The one error hierarchy of pot.

The library raises these and never prints or exits; only ``pot.cli.main`` turns them into a message and an exit
code (see ``EXIT_CODES`` there). Each class names what went wrong, not where.
"""

from __future__ import annotations

from typing import Any


class PotError(Exception):
    """Base class of every error pot raises on purpose."""


class FormatError(PotError):
    """Input is not what the format allows: malformed JSON, an unknown version, a field of the wrong type."""


class UsageError(PotError):
    """A caller asked for something that cannot be done as asked (bad argument, unknown model id)."""


class StoreError(PotError):
    """The store cannot be opened, read or written (missing, read-only, corrupt, locked too long)."""


class KeyringError(PotError):
    """A signing key cannot be created, read or unlocked (missing file, wrong passphrase, bad permissions)."""


class AnchorError(PotError):
    """An anchor backend could not anchor or look up a root."""


class AnchorUnavailable(AnchorError):
    """The backend cannot be reached or cannot pay for the anchor now; the root stays pending."""


class AnchorMismatch(AnchorError):
    """The backend answered, but what it holds does not match the receipt."""


class ChainMismatch(AnchorError):
    """The RPC endpoint is not the chain the settings name (another chain id), or holds no registry there."""


class AnchorReverted(AnchorError):
    """The anchor transaction was mined but reverted (receipt status 0): nothing was anchored by it."""


class VerificationError(PotError):
    """A proof failed a check. ``check`` names it; ``report`` holds every check run until then."""

    check: str = "verification"

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class MalformedProof(VerificationError, FormatError):
    """A pot v1 proof whose content does not fit the format: it is invalid, not merely unreadable."""

    check = "format"


class ProofSignatureError(VerificationError):
    check = "proof-signature"


class SignerError(VerificationError):
    check = "signer"


class RecordError(VerificationError):
    check = "records"


class TreeHeadError(VerificationError):
    check = "tree-heads"


class ConsistencyError(VerificationError):
    check = "consistency"


class InclusionError(VerificationError):
    check = "inclusion"


class AnchorReceiptError(VerificationError):
    check = "anchors"


class SummaryError(VerificationError):
    check = "summary"


class TimestampError(VerificationError):
    check = "timestamps"


class ChainCheckError(VerificationError):
    check = "chain"


class ChainUnreachable(ChainCheckError):
    """The chain could not be asked (unreachable, or no JSON-RPC answer): its receipts were not checked. Not the
    proof's fault: ``pot verify --rpc`` exits 3 for it, as for any environment that refuses."""


class RecordRefused(VerificationError):
    """The chain refused a record: the registry's checkRecord (or checkLeaf) reverted, or the anchor it holds is not
    the one the receipt names (``pot chain check-record``)."""

    check = "on-chain record"


class TsaTokenError(VerificationError):
    """A TSA token does not check out against the verifier's pinned certificate (or cannot be checked)."""

    check = "tsa"


class ParentProofError(VerificationError):
    check = "parents"


class AttestationError(VerificationError):
    """An in-toto attestation (a DSSE envelope) failed a check, or does not agree with the proof it renders."""

    check = "attestation"


class ReplayError(VerificationError):
    """A replayed training segment did not give what the log recorded (pot.replay)."""

    check = "replay"


class ReplayAttestationError(AttestationError):
    """A replay attestation is malformed, or its signature, key or proof digest does not check out."""

    check = "replay-attestation"
