"""RFC 3161 time anchors: a time-stamping authority's token over each anchored head, and its offline check.

Recording: :class:`TsaAnchor` sends a time-stamp request (SHA-256 message imprint of the head's statement, see
:func:`pot.anchors.tsa_receipt.statement`; a random nonce; certReq true) to the TSA's URL by HTTP POST, checks the
answer (granted, same nonce, same imprint) and the token against the TSA certificate the recorder was configured
with, and returns the receipt details ``{"token", "gen_time"}``. A TSA that cannot be reached raises
:class:`pot.errors.AnchorUnavailable`: the recorder goes on and the head stays pending for ``pot anchor``.

Verifying: :func:`check_token` checks one receipt's token against certificates the *verifier* pins, never against
certificates the proof carries alone. The checks, in order (docs/PROOF_FORMAT.md section 6.3):

1. the token is one DER ``ContentInfo`` holding CMS ``SignedData`` of an RFC 3161 ``TSTInfo``, with one signer;
2. its message imprint is SHA-256, and equals the SHA-256 of this head's statement;
3. its signature verifies, by a certificate the token carries, whose chain (with the token's other certificates)
   ends in a pinned certificate and is valid at the token's ``genTime``;
4. that signing certificate has a critical extended key usage that includes ``timeStamping``;
5. the signed ``signing-certificate`` (ESS, RFC 2634) or ``signing-certificate-v2`` (RFC 5035) attribute names that
   certificate by its hash (so no other certificate of the same key can pass as the signer);
6. the receipt's ``gen_time`` is the token's ``genTime``.

Only then is the head dated by the TSA: its records existed by ``genTime`` + the token's ``accuracy``, on the word
of the TSA whose certificate subject the report names. Needs the ``[tsa]`` extra (``rfc3161-client``); without it
this module imports and every entry point raises :class:`pot.errors.AnchorUnavailable` saying what to install.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pot.anchors.base import TIME_ALLOWANCE_SECONDS, AnchorReceipt, Strength
from pot.anchors.tsa_receipt import BACKEND, imprint, statement, token_bytes
from pot.config import TsaSettings, endpoint_of
from pot.errors import AnchorMismatch, AnchorUnavailable, TsaTokenError, UsageError
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.records import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from pot.config import ProvenanceConfig
    from pot.log.proof import ProvenanceProof
    from pot.log.store import LogStore
    from pot.log.verify import VerificationReport

TSA_EXTRA = "pip install 'pot-provenance[tsa]'"
_missing_tsa_client: str | None = None
try:
    import rfc3161_client
except ImportError as exc:  # the [tsa] extra is not installed: verification without --tsa-cert still works
    _missing_tsa_client = exc.name or "rfc3161_client"

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1 << 20
_CLOCK = Callable[[], datetime]

# DER object identifiers (content octets), fixed by RFC 5652, RFC 3161, RFC 2634 and RFC 5035.
_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
_OID_TST_INFO = bytes.fromhex("2a864886f70d0109100104")
_OID_SIGNING_CERTIFICATE = bytes.fromhex("2a864886f70d010910020c")
_OID_SIGNING_CERTIFICATE_V2 = bytes.fromhex("2a864886f70d010910022f")
_OID_SHA256 = bytes.fromhex("608648016503040201")
_ESS_V2_HASHES = {_OID_SHA256: "sha256", bytes.fromhex("608648016503040202"): "sha384",
                  bytes.fromhex("608648016503040203"): "sha512"}
_SHA256_OID_TEXT = "2.16.840.1.101.3.4.2.1"


def _require_tsa_client() -> None:
    if _missing_tsa_client is not None:
        raise AnchorUnavailable(f"the TSA client is not installed (no module named {_missing_tsa_client!r}): "
                                f"{TSA_EXTRA}")


def load_certificates(source: str | os.PathLike[str] | x509.Certificate) -> list[x509.Certificate]:
    """The certificates of a PEM file (one or more), or a certificate given as an object. Raises UsageError for a
    file that cannot be read or holds no certificate: pinned certificates are the verifier's (or recorder's) input."""
    if isinstance(source, x509.Certificate):
        return [source]
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the TSA certificate {path}: {exc.strerror}") from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise UsageError(f"{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)") from None
    return certificates


# --- a small DER reader: just what the checks above need from the token -----------------------------------------


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``. Definite, minimal lengths only."""
    if pos + 2 > end:
        raise TsaTokenError("the token is cut short")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise TsaTokenError("the token uses a tag number no TimeStampToken has")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise TsaTokenError("the token has a length that DER does not allow")
        length = int.from_bytes(data[pos:pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise TsaTokenError("the token has a length that DER does not allow (not minimal)")
        pos += count
    if pos + length > end:
        raise TsaTokenError("the token is cut short")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    pos = start
    while pos < end:
        tag, s, e = _tlv(data, pos, end)
        items.append((tag, s, e))
        pos = e
    return items


@dataclass(frozen=True, slots=True)
class _Parsed:
    gen_time: str  # pot timestamp, genTime rounded up to the microsecond
    signed_attributes: list[tuple[bytes, bytes]]  # (attribute OID, DER of its first value)


def _parse_token(token: bytes) -> _Parsed:
    """Step 1: the token's structure, and what steps 5 and 6 read from it (genTime, the signed attributes)."""
    tag, s, e = _tlv(token, 0, len(token))
    if tag != 0x30 or e != len(token):
        raise TsaTokenError("the token is not one DER ContentInfo (trailing or missing bytes)")
    content = _children(token, s, e)
    if len(content) != 2 or content[0][0] != 0x06 or token[content[0][1]:content[0][2]] != _OID_SIGNED_DATA \
            or content[1][0] != 0xA0:
        raise TsaTokenError("the token is not CMS SignedData")
    wrapped = _children(token, content[1][1], content[1][2])
    if len(wrapped) != 1 or wrapped[0][0] != 0x30:
        raise TsaTokenError("the token is not CMS SignedData")
    signed = _children(token, wrapped[0][1], wrapped[0][2])
    if len(signed) < 4 or [t for t, _, _ in signed[:3]] != [0x02, 0x31, 0x30] or signed[-1][0] != 0x31:
        raise TsaTokenError("the token's SignedData is malformed")
    encap = _children(token, signed[2][1], signed[2][2])
    if len(encap) != 2 or encap[0][0] != 0x06 or token[encap[0][1]:encap[0][2]] != _OID_TST_INFO \
            or encap[1][0] != 0xA0:
        raise TsaTokenError("the token does not hold an RFC 3161 TSTInfo")
    octets = _children(token, encap[1][1], encap[1][2])
    if len(octets) != 1 or octets[0][0] != 0x04:
        raise TsaTokenError("the token's TSTInfo is malformed")
    tst = _children(token, octets[0][1], octets[0][2])
    if len(tst) != 1 or tst[0][0] != 0x30:
        raise TsaTokenError("the token's TSTInfo is malformed")
    fields = _children(token, tst[0][1], tst[0][2])
    if len(fields) < 5 or fields[4][0] != 0x18:
        raise TsaTokenError("the token's TSTInfo has no genTime")
    gen_time = _generalized_time(token[fields[4][1]:fields[4][2]])
    signers = _children(token, signed[-1][1], signed[-1][2])
    if len(signers) != 1 or signers[0][0] != 0x30:
        raise TsaTokenError("the token must have exactly one signer")
    signer = _children(token, signers[0][1], signers[0][2])
    attributes: list[tuple[bytes, bytes]] = []
    if len(signer) >= 4 and signer[3][0] == 0xA0:
        for tag, a_s, a_e in _children(token, signer[3][1], signer[3][2]):
            parts = _children(token, a_s, a_e)
            if tag != 0x30 or len(parts) != 2 or parts[0][0] != 0x06 or parts[1][0] != 0x31:
                raise TsaTokenError("the token's signed attributes are malformed")
            values = _children(token, parts[1][1], parts[1][2])
            if not values:
                raise TsaTokenError("the token's signed attributes are malformed")
            # the first value's tag byte is where the SET's content starts
            attributes.append((token[parts[0][1]:parts[0][2]], token[parts[1][1]:values[0][2]]))
    return _Parsed(gen_time, attributes)


def _generalized_time(raw: bytes) -> str:
    """A DER GeneralizedTime (YYYYMMDDHHMMSS[.f...]Z) as a pot timestamp, a fraction beyond microseconds rounded
    up: the moment the token vouches for is never shown earlier than the TSA wrote it."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise TsaTokenError("the token's genTime is not a time") from None
    if len(text) < 15 or not text.endswith("Z") or not text[:14].isdigit():
        raise TsaTokenError("the token's genTime is not a DER GeneralizedTime")
    fraction = text[14:-1]
    if fraction and (fraction[0] != "." or not fraction[1:].isdigit() or fraction.endswith("0") or len(fraction) < 2):
        raise TsaTokenError("the token's genTime is not a DER GeneralizedTime")
    try:
        moment = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise TsaTokenError("the token's genTime is not a real moment") from None
    digits = fraction[1:]
    micros = int((digits + "000000")[:6]) if digits else 0
    if len(digits) > 6 and int(digits[6:]) > 0:
        micros += 1
    moment += timedelta(microseconds=micros)
    try:
        return format_timestamp(moment)
    except (OverflowError, ValueError):
        raise TsaTokenError("the token's genTime is out of range") from None


# --- the token check ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """What a token checked against a pinned certificate proves."""

    gen_time: str  # the token's genTime
    accuracy_us: int | None  # its accuracy, in microseconds (None: the token states none)
    proven_time: str  # genTime + accuracy: the latest moment the TSA vouches the head existed by
    tsa_subject: str  # the signing certificate's subject (RFC 4514)
    pinned_subject: str  # the pinned certificate its chain ends in
    serial_number: int


def _name(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string() or "(empty subject)"


def verify_token(token: bytes, head: TreeHead, pinned: Sequence[x509.Certificate]) -> TokenCheck:
    """Checks 1-5 of the module docstring for ``token`` over ``head``; raises TsaTokenError at the first failure."""
    _require_tsa_client()
    if not pinned:
        raise UsageError("no TSA certificate pinned: a token is checked only against a certificate you trust")
    parsed = _parse_token(token)
    # RFC 3161 TimeStampResp = SEQUENCE { PKIStatusInfo { granted }, token }: the library reads responses.
    body = bytes.fromhex("3003020100") + token
    response_der = b"\x30" + _der_length(len(body)) + body
    try:
        response = rfc3161_client.decode_timestamp_response(response_der)
        tst = response.tst_info
        algorithm = tst.message_imprint.hash_algorithm.dotted_string
        message = tst.message_imprint.message
        certificates = [x509.load_der_x509_certificate(c) for c in response.signed_data.certificates]
        signer_info = next(iter(response.signed_data.signer_infos))
        accuracy = tst.accuracy
        serial = int(tst.serial_number)
    except Exception as exc:  # the Rust parser raises ValueError and others for bytes that are no token
        raise TsaTokenError(f"the token cannot be read as an RFC 3161 token ({type(exc).__name__})") from None
    if algorithm != _SHA256_OID_TEXT:
        raise TsaTokenError(f"the token's message imprint is not SHA-256 (algorithm {algorithm})")
    if message != imprint(head):
        raise TsaTokenError("the token stamps another message than this head's statement")
    leaf = next((c for c in certificates if c.issuer == signer_info.issuer
                 and c.serial_number == signer_info.serial_number), None)
    if leaf is None:
        raise TsaTokenError("the token does not carry its signing certificate (it was not requested with certReq?)")
    anchor, failures = None, []
    for root in pinned:
        try:
            rfc3161_client.VerifierBuilder(roots=[root]).build().verify_message(response, statement(head))
        except Exception as exc:  # the library's VerificationError, or ValueError from its chain building
            failures.append(_reason(str(exc)))
            continue
        anchor = root
        break
    if anchor is None:
        raise TsaTokenError("the token does not verify against the pinned TSA certificate(s): "
                            + "; ".join(sorted(set(failures))))
    _check_ess(parsed.signed_attributes, leaf)
    accuracy_us = None
    if accuracy is not None:
        accuracy_us = (int(accuracy.seconds or 0) * 1_000_000 + int(accuracy.millis or 0) * 1_000
                       + int(accuracy.micros or 0))
    proven = parse_timestamp(parsed.gen_time) + timedelta(microseconds=accuracy_us or 0)
    return TokenCheck(gen_time=parsed.gen_time, accuracy_us=accuracy_us, proven_time=format_timestamp(proven),
                      tsa_subject=_name(leaf), pinned_subject=_name(anchor), serial_number=serial)


def _reason(message: str) -> str:
    """The library's error in one short line: OpenSSL's own reason when it gives one (its error stack is long)."""
    found = re.search(r'data: "([^"]{1,200})"', message) or re.search(r'reason: "([^"]{1,200})"', message)
    return found.group(1) if found else message[:200]


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _check_ess(attributes: Sequence[tuple[bytes, bytes]], leaf: x509.Certificate) -> None:
    """Step 5: the signed ESS attribute names the signing certificate by its hash (the first ESSCertID is the
    signer's, RFC 2634 section 5.4 and RFC 5035). The signature (step 3) covers the signed attributes."""
    der = leaf.public_bytes(Encoding.DER)
    found = [(oid, value) for oid, value in attributes
             if oid in (_OID_SIGNING_CERTIFICATE, _OID_SIGNING_CERTIFICATE_V2)]
    if len(found) != 1:
        raise TsaTokenError("the token's signature does not name its certificate (exactly one ESS "
                            "signing-certificate attribute is required)")
    oid, value = found[0]
    tag, s, e = _tlv(value, 0, len(value))
    certs = _children(value, s, e) if tag == 0x30 else []
    ids = _children(value, certs[0][1], certs[0][2]) if certs and certs[0][0] == 0x30 else []
    first = _children(value, ids[0][1], ids[0][2]) if ids and ids[0][0] == 0x30 else []
    if not first:
        raise TsaTokenError("the token's ESS signing-certificate attribute is malformed")
    algorithm = "sha1"
    if oid == _OID_SIGNING_CERTIFICATE_V2:
        algorithm = "sha256"  # the DEFAULT of ESSCertIDv2.hashAlgorithm
        if first[0][0] == 0x30:  # an explicit hashAlgorithm
            alg = _children(value, first[0][1], first[0][2])
            if not alg or alg[0][0] != 0x06 or value[alg[0][1]:alg[0][2]] not in _ESS_V2_HASHES:
                raise TsaTokenError("the token's ESS attribute hashes its certificate with an unsupported algorithm")
            algorithm = _ESS_V2_HASHES[value[alg[0][1]:alg[0][2]]]
            first = first[1:]
    if not first or first[0][0] != 0x04:
        raise TsaTokenError("the token's ESS signing-certificate attribute is malformed")
    if value[first[0][1]:first[0][2]] != hashlib.new(algorithm, der).digest():
        raise TsaTokenError("the token's ESS signing-certificate attribute names another certificate than the one "
                            "that signed it")


def check_token(receipt: AnchorReceipt, head: TreeHead, pinned: Sequence[x509.Certificate]) -> TokenCheck:
    """All six checks for a ``tsa`` receipt (whose details already passed the offline check)."""
    checked = verify_token(token_bytes(receipt.details), head, pinned)
    if checked.gen_time != receipt.details["gen_time"]:
        raise TsaTokenError(f"the receipt's gen_time {receipt.details['gen_time']} is not the token's genTime "
                            f"{checked.gen_time}")
    return checked


def token_checker(certificates: Sequence[str | os.PathLike[str] | x509.Certificate]
                  ) -> Callable[[ProvenanceProof, VerificationReport], str]:
    """For :func:`pot.log.verify.verify_proof` (``tsa_certs``): checks every ``tsa`` receipt of a proof against these
    pinned certificates and dates the heads they cover. Raises AnchorUnavailable at once without the ``[tsa]``
    extra, UsageError for a certificate file that cannot be read."""
    _require_tsa_client()
    pinned = [c for source in certificates for c in load_certificates(source)]
    if not pinned:
        raise UsageError("no TSA certificate pinned")

    def check(proof: ProvenanceProof, report: VerificationReport) -> str:
        heads: dict[str, tuple[int, TreeHead]] = {
            entry.head.head_hash: (index, entry.head) for index, entry in enumerate(proof.tree_heads)}
        receipts = [r for r in proof.anchors if r.backend == BACKEND]
        if not receipts:
            report.notes.append("no TSA receipt in the proof: nothing to check against the pinned TSA certificate")
            return "no TSA token to check"
        subjects = set()
        for n, receipt in enumerate(receipts):
            index, head = heads[receipt.head_hash]
            try:
                checked = check_token(receipt, head, pinned)
            except TsaTokenError as exc:
                raise TsaTokenError(f"TSA token of head {head.tree_size} (tsa receipt {n}): {exc}") from None
            status = report.heads[index]
            if status.tsa_time is None or checked.proven_time < status.tsa_time:
                accuracy = ("no accuracy stated" if checked.accuracy_us is None else
                            f"accuracy {checked.accuracy_us / 1e6:g} s")
                status.tsa_time = checked.proven_time
                status.tsa_detail = (f"token {checked.serial_number} of {checked.tsa_subject}, certified by pinned "
                                     f"{checked.pinned_subject}; genTime {checked.gen_time}, {accuracy}")
            subjects.add(checked.tsa_subject)
        return (f"{len(receipts)} TSA token(s) verified against the pinned certificate(s), signed by "
                + ", ".join(sorted(subjects)))

    return check


# --- recording ---------------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TsaAnchor:
    """Anchors a head by asking an RFC 3161 TSA for a token over its statement (one HTTP POST per head)."""

    backend: ClassVar[str] = BACKEND
    strength: ClassVar[Strength] = "tsa"

    def __init__(self, url: str, certificates: Sequence[x509.Certificate], *, timeout: float = 10.0,
                 clock: _CLOCK | None = None) -> None:
        _require_tsa_client()
        if not certificates:
            raise UsageError("a TSA anchor needs the TSA's certificate (POT_TSA_CERT): its tokens are checked "
                             "before they are kept")
        self.url = url
        self.endpoint = endpoint_of(url)
        self._certificates = list(certificates)
        self._timeout = timeout
        self._clock = clock or _utcnow

    def anchor(self, head: SignedTreeHead) -> dict[str, Any]:
        """Ask the TSA for a token over ``head``'s statement; check it; return the receipt details."""
        request = (rfc3161_client.TimestampRequestBuilder().data(statement(head.head))
                   .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256).nonce(nonce=True)
                   .cert_request(cert_request=True).build())
        answer = self._post(request.as_bytes())
        try:
            response = rfc3161_client.decode_timestamp_response(answer)
            status = int(response.status)
            nonce = response.tst_info.nonce if status == 0 else None
            token = response.time_stamp_token() if status == 0 else b""
        except Exception as exc:  # the Rust parser raises ValueError and others for bytes that are no answer
            raise AnchorMismatch(f"the TSA at {self.endpoint} answered with no RFC 3161 response "
                                 f"({type(exc).__name__})") from None
        if status != 0:
            raise AnchorUnavailable(f"the TSA at {self.endpoint} refused the request (PKIStatus {status})")
        if nonce != request.nonce:
            raise AnchorMismatch(f"the TSA at {self.endpoint} answered another request (nonce mismatch)")
        try:
            checked = verify_token(token, head.head, self._certificates)
        except TsaTokenError as exc:
            raise AnchorMismatch(f"the token from the TSA at {self.endpoint} does not check out against "
                                 f"POT_TSA_CERT: {exc}") from None
        # A token dated after the receipt that will hold it would fail every verifier's offline check (section 6.3):
        # a TSA clock far ahead of this machine's is refused here rather than stored.
        now = self._clock()
        if parse_timestamp(checked.gen_time) > now + timedelta(seconds=TIME_ALLOWANCE_SECONDS):
            raise AnchorMismatch(f"the TSA at {self.endpoint} dates its token {checked.gen_time}, more than "
                                 f"{TIME_ALLOWANCE_SECONDS} s after this machine's clock ({format_timestamp(now)})")
        return {"token": base64.b64encode(token).decode("ascii"), "gen_time": checked.gen_time}

    def _post(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/timestamp-query", "Accept": "application/timestamp-reply"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                data: bytes = answer.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise AnchorUnavailable(f"the TSA at {self.endpoint} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AnchorUnavailable(f"the TSA at {self.endpoint} cannot be reached ({reason})") from None
        if len(data) > MAX_RESPONSE_BYTES:
            raise AnchorMismatch(f"the TSA at {self.endpoint} answered more than {MAX_RESPONSE_BYTES} bytes")
        return data


def tsa_anchor_for(config: ProvenanceConfig, store: LogStore) -> TsaAnchor | None:
    """The TSA anchor the settings ask for (POT_TSA_URL, POT_TSA_CERT: argument, environment, .env, then the store's
    ``pot init --tsa`` settings), or None: silently when no TSA URL is set, with a warning when one is set but the
    anchor cannot be made (no certificate, no ``[tsa]`` extra). Recording goes on either way; heads without a token
    stay pending for ``pot anchor``. Does not contact the TSA."""
    try:
        settings = TsaSettings.resolve(config, saved={name: value for name in ("tsa_url", "tsa_cert")
                                                      if (value := store.get_setting(name)) is not None})
    except UsageError as exc:
        log.warning("the TSA settings are not usable (%s): tree heads get no TSA token", exc)
        return None
    if settings.url is None:
        return None
    try:
        if settings.cert is None:
            raise UsageError("POT_TSA_CERT (the TSA's CA certificate, PEM) is not set")
        return TsaAnchor(settings.url, load_certificates(settings.cert))
    except (UsageError, AnchorUnavailable) as exc:
        log.warning("a TSA is configured (%s) but %s: tree heads get no TSA token until it is; they stay pending "
                    "for `pot anchor`", endpoint_of(settings.url), exc)
        return None
