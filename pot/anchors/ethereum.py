"""The Ethereum anchor: tree-head roots on a ProvenanceRegistry contract on Ethereum, Polygon or anvil.

Only imported when a chain is wanted: it needs web3 (``pip install 'pot-provenance[chain]'``). The offline check
of its receipts lives in :mod:`pot.anchors.ethereum_receipt`, which needs no web3.

    settings = ChainSettings.resolve()                 # RPC_URL, PRIVATE_KEY, CONTRACT_ADDRESS, ...
    address = deploy_registry(settings)                # once per chain
    anchor = EthereumAnchor(dataclasses.replace(settings, contract_address=address))
    details = anchor.anchor(signed_head)               # {"chain_id": ..., "tx_hash": ..., "block_time": ...}

How an anchor is sent, and why:

- Transactions are signed here with eth-account, never by the node: a node's unlocked account is a key held by
  whoever runs the node.
- Anchoring is idempotent. ``anchorOf(account, root)`` is asked before every send, after a receipt wait times out
  and after a nonce error, and an anchored root's details are read back from its ``Anchored`` event. Every resend for
  one root reuses the nonce of the first send (with higher fees), so at most one of them can be mined: retries never
  pay twice, and the contract refuses a second anchor of a root by one account anyway.
- Anchors are the sending account's own: the contract keeps each account's anchor of a root apart, so someone who
  sees the transaction waiting and anchors the same root first (under any ``metaHash``) has an anchor of their own
  and takes nothing from this one. The receipt names this account as the submitter, and the online check reads
  that account's anchor.
- The nonce is kept here and re-read from the node (``pending``) only when the node says it is stale, so a
  burst of anchors does not wait for each other's receipts to learn the next nonce.
- A mined transaction can still have failed: its receipt has status 0 and web3 raises nothing. The status is
  checked, and nothing is reported anchored unless the ``Anchored`` event is in the receipt.
- Everything the node or network can get wrong now (unreachable, timeouts, no funds, not mined in time) raises
  :class:`pot.errors.AnchorUnavailable`, after which the recorder keeps the head pending. Configuration that can
  never work (another chain, no contract at the address, a bad key) raises another :class:`AnchorError`.

- An endpoint that answers something no Ethereum node would (a web page, broken JSON, a chain id of 0 or "banana",
  a negative fee) is treated like one that is down: :class:`pot.errors.AnchorUnavailable`, nothing is signed or
  sent, and the root stays pending. Every number pot signs into a transaction (chain id, nonce, fees) is read as a
  raw JSON-RPC quantity and range-checked first: a chain id that passes a lenient parse (``true`` reads as 1) would
  have pot sign a transaction for another chain.

The private key is held in a :class:`pot.config.Secret` and an eth-account object, and appears in no message,
log line or repr of this module. The RPC URL is shown as scheme://host:port only (:func:`pot.config.endpoint_of`),
since hosted RPC URLs carry an API key in their path or query and some a password in the netloc: errors say no
more, and a filter takes the rest of the URL out of web3's and urllib3's own (DEBUG) log lines.

Without the ``[chain]`` extra this module still imports; every entry point that needs web3 raises
:class:`pot.errors.AnchorUnavailable` saying what to install, and :func:`chain_anchor_for` warns and returns None,
so a recorder records locally and its heads stay pending.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from pot.anchors import aggregate
from pot.anchors.base import TIME_ALLOWANCE_SECONDS, Strength
from pot.anchors.ethereum_receipt import BACKEND, DEV_CHAIN_IDS, POA_CHAIN_IDS, chain_name, check_details
from pot.config import MAX_CHAIN_ID, ChainSettings, ProvenanceConfig, Secret, endpoint_of, secret_url_parts
from pot.errors import (
    AnchorMismatch,
    AnchorReverted,
    AnchorUnavailable,
    ChainCheckError,
    ChainMismatch,
    ChainUnreachable,
    PotError,
    UsageError,
)
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.records import format_timestamp, parse_timestamp

CHAIN_EXTRA = "pip install 'pot-provenance[chain]'"
_missing_chain_client: str | None = None  # the module that could not be imported, when the extra is missing

# Importing web3 imports py_ecc, which raises the interpreter's recursion limit to 100,000 for the whole process.
# Under that limit a deeply nested JSON document (a hostile proof) overflows the C stack inside json.loads and
# kills the process with SIGSEGV, where the default limit gives a RecursionError that pot reports as a bad proof.
# pot never calls py_ecc (secp256k1 signing goes through coincurve), so the limit is put back after the imports.
_RECURSION_LIMIT = sys.getrecursionlimit()
try:
    import requests
    from eth_account import Account
    from web3 import Web3
    from web3.exceptions import (
        BadFunctionCallOutput,
        ContractCustomError,
        ContractLogicError,
        TimeExhausted,
        TransactionNotFound,
        Web3Exception,
        Web3RPCError,
    )
    from web3.middleware import ExtraDataToPOAMiddleware
    from web3.providers.rpc.utils import ExceptionRetryConfiguration
    from web3.types import RPCEndpoint
except ImportError as exc:
    # No [chain] extra. The module still imports so that a recorder can warn and record locally; the entry points
    # that need web3 raise AnchorUnavailable naming the extra (see _require_chain_client).
    _missing_chain_client = exc.name or "web3"
finally:
    sys.setrecursionlimit(_RECURSION_LIMIT)

if TYPE_CHECKING:
    from pot.log.keys import SigningKey
    from pot.log.proof import ProvenanceProof
    from pot.log.store import LogStore
    from pot.log.verify import VerificationReport

__all__ = [
    "CHAIN_EXTRA",
    "EthereumAnchor",
    "chain_anchor_for",
    "deploy_registry",
    "load_artifact",
    "online_checker",
    "probe",
]

log = logging.getLogger(__name__)

ARTIFACT = "ProvenanceRegistry.json"
# keccak256("Anchored(bytes32,bytes32,address)"), written out so this module imports without web3 (a test recomputes it)
ANCHORED_TOPIC = "0x840d56d6081fa4a201be5c97698b23055ee2e65deab7d5845a6ee3053b68bdf8"
# Store settings read as the lowest-precedence source (ChainSettings.resolve upper-cases the keys).
SAVED_SETTINGS = ("rpc_url", "contract_address", "chain_id", "confirmation_blocks", "gas_price_gwei",
                  "blockchain_client_type")

_GWEI = 10**9
_EMPTY_BLOCKS_PRIORITY_FEE = 1 * _GWEI  # when the fee history shows only empty blocks: no one had to bid
_FEE_HISTORY_BLOCKS = 10
_FEE_HISTORY_PERCENTILE = 50.0
_UINT256_MAX = 2**256 - 1
_NONCE_MAX = 2**64 - 2  # EIP-2681
_GAS_MARGIN = 1.25  # estimates are exact for `anchor`; the margin only covers state changing before inclusion
_FEE_BUMP = 1.25  # nodes refuse a same-nonce replacement that pays less than 10% more on both fee fields
_NONCE_STALE = ("nonce too low", "nonce has already been used", "oldnonce")
_UNDERPRICED = ("replacement transaction underpriced", "replacement fee too low", "underpriced")
_ALREADY_SENT = ("already known", "already imported", "known transaction")
_NO_FUNDS = ("insufficient funds", "insufficient balance")


def load_artifact() -> dict[str, Any]:
    """The committed build of ProvenanceRegistry (abi, bytecode, compiler): pot deploys without a compiler."""
    text = resources.files("pot").joinpath("contracts").joinpath(ARTIFACT).read_text(encoding="utf-8")
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def _require_chain_client() -> None:
    if _missing_chain_client is not None:
        raise AnchorUnavailable(f"the chain client is not installed (no module named {_missing_chain_client!r}): "
                                f"{CHAIN_EXTRA}")


class _ScrubRpcUrls(logging.Filter):
    """Takes the secret parts of the RPC URLs pot uses out of other libraries' log lines: web3 logs the whole URL of
    every request at DEBUG, urllib3 its path and query. One instance for the process, as the loggers are."""

    _LOGGERS = ("web3.providers.HTTPProvider", "web3._utils.http_session_manager.HTTPSessionManager",
                "web3.manager.RequestManager", "urllib3.connectionpool")

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[tuple[str, str], ...] = ()  # (secret text, what to show instead), longest first
        for name in self._LOGGERS:
            logging.getLogger(name).addFilter(self)

    def add(self, url: str) -> None:
        with self._lock:
            known = dict(self._secrets)
            for part in secret_url_parts(url):
                known.setdefault(part, endpoint_of(url) if part == url else "***")
            self._secrets = tuple(sorted(known.items(), key=lambda item: len(item[0]), reverse=True))

    def scrub(self, text: str) -> str:
        for secret, shown in self._secrets:
            text = text.replace(secret, shown)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is its logger's problem; it is never ours to drop
                return True
            scrubbed = self.scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


_scrubber = _ScrubRpcUrls()


def _scrub(text: str, url: str) -> str:
    """``text`` (a message some library wrote) without any part of ``url`` beyond scheme://host:port."""
    for part in secret_url_parts(url):
        text = text.replace(part, endpoint_of(url) if part == url else "***")
    return text


class _Nonsense(ValueError):
    """The endpoint answered, but with something no Ethereum node would say; the message says what."""


_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")


def _quantity(value: Any, what: str, low: int = 0, high: int = _UINT256_MAX) -> int:
    """A JSON-RPC QUANTITY ("0x" and hex digits; a plain JSON integer is tolerated) within [low, high].

    Stricter than web3's formatters on purpose: they read "abc" as 0xabc, true as 1 and 31337.5 as 31337.
    """
    if isinstance(value, str) and _QUANTITY.fullmatch(value):
        number = int(value, 16)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _Nonsense(f"answered a {what} that is not a number ({_shorten(value)})")
    if number < low:
        raise _Nonsense(f"answered a {what} of {number} (it is at least {low} on every chain)")
    if number > high:
        raise _Nonsense(f"answered a {what} of {_shorten(number)} (larger than any chain allows)")
    return number


def _shorten(value: Any) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _hex(value: bytes | str) -> str:
    """0x-prefixed lower-case hex. (hexbytes 1.x+ ``.hex()`` has no 0x prefix; web3 6 had one.)"""
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def _node_message(exc: BaseException, url: str) -> str:
    """The node's own error message, on one line, from a web3 error (the node never sees our key), with any part of
    the RPC URL beyond scheme://host:port taken out."""
    text = ""
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
    if not text and isinstance(exc, ContractLogicError) and exc.message:
        text = str(exc.message)
    text = " ".join(_scrub(text or str(exc), url).split())
    return text[:300] or type(exc).__name__


def _describe_answer(exc: BaseException, url: str) -> str:
    """What was wrong with an answer that made web3 or pot's parsing fail, for an endpoint that did answer."""
    if isinstance(exc, _Nonsense):
        return str(exc)
    if isinstance(exc, json.JSONDecodeError):
        return "answered something that is not JSON (a web page? check that RPC_URL is a JSON-RPC endpoint)"
    return f"answered something that is not a valid JSON-RPC reply ({type(exc).__name__}: {_node_message(exc, url)})"


def _is_unreachable(exc: BaseException) -> bool:
    from web3.exceptions import ProviderConnectionError, RequestTimedOut

    return isinstance(exc, requests.RequestException | ProviderConnectionError | RequestTimedOut | OSError |
                      TimeoutError)


def _unreachable_reason(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or reset"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def _make_web3(rpc_url: str, request_timeout: float) -> Web3:
    _require_chain_client()
    _scrubber.add(rpc_url)
    # web3 retries idempotent calls 5 times with exponential back-off by default (about 4 s when a node is down);
    # three quick tries are enough to ride out a dropped connection and keep "RPC down" fast to report.
    retry = ExceptionRetryConfiguration(errors=(requests.ConnectionError, requests.HTTPError, requests.Timeout),
                                        retries=3, backoff_factor=0.1)
    # requests reads the proxy variables from the environment on every request (a third of an anchor's CPU time
    # here); read them once for this endpoint, NO_PROXY included.
    session = requests.Session()
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(rpc_url)
    # The chain id cannot change under a running node; web3 asks for it again for most calls it builds.
    provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout}, session=session,
                                 exception_retry_configuration=retry, cache_allowed_requests=True,
                                 cacheable_requests={RPCEndpoint("eth_chainId")})
    return Web3(provider)


def _ask(w3: Web3, method: str, *params: Any) -> Any:
    """One JSON-RPC call, its result as the node sent it (no web3 result formatter, which would read nonsense
    leniently): for the values pot checks itself before it signs them into a transaction."""
    return w3.manager.request_blocking(RPCEndpoint(method), list(params))


def _chain_id_of(w3: Web3) -> int:
    return _quantity(_ask(w3, "eth_chainId"), "chain id", 1, MAX_CHAIN_ID)


def _load_account(private_key: Secret | None) -> Any:
    if not private_key:
        raise UsageError("PRIVATE_KEY is not set: the Ethereum anchor signs its transactions itself")
    try:
        return Account.from_key(private_key.reveal().strip())
    except Exception:
        # eth-account's message could quote the key; say what is wrong without it, and drop the cause.
        raise UsageError("PRIVATE_KEY is not a valid secp256k1 private key (expected 64 hex digits)") from None


def _checksum(address: str | None, name: str) -> str:
    if not address:
        raise UsageError(f"{name} is not set: deploy a ProvenanceRegistry (`pot contract deploy`)"
                         " and set CONTRACT_ADDRESS")
    if not Web3.is_address(address):
        # The value is not echoed: a private key pasted into the wrong variable would end up in the message.
        raise UsageError(f"{name} is not an Ethereum address (expected 0x and 40 hex digits)")
    return str(Web3.to_checksum_address(address))


class _Client:
    """One RPC connection, checked once: chain id as configured, POA middleware where needed."""

    def __init__(self, settings: ChainSettings, request_timeout: float) -> None:
        _require_chain_client()
        if not settings.rpc_url:
            raise UsageError("RPC_URL is not set")
        self.settings = settings
        self.url = settings.rpc_url
        self.endpoint = endpoint_of(settings.rpc_url)
        self.w3 = _make_web3(settings.rpc_url, request_timeout)
        self.chain_id: int | None = None
        self.account: str | None = None  # the sender's address, for messages

    def __repr__(self) -> str:
        return f"_Client(endpoint={self.endpoint!r})"

    @contextlib.contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn transport errors, node errors and answers no node would give into AnchorUnavailable, one line.

        Whatever fails while reading a node's answer is the answer's fault here: a node that sends a web page, a
        list where a block belongs or a string where a number belongs makes web3 raise anything from
        JSONDecodeError to AttributeError. None of it may stop a recorder or end a command as an internal error.
        """
        try:
            yield
        except PotError:
            raise
        except Exception as exc:
            if _is_unreachable(exc):
                raise AnchorUnavailable(f"{doing}: cannot reach {self.endpoint} ({_unreachable_reason(exc)})"
                                        ) from None
            message = _node_message(exc, self.url)
            if isinstance(exc, Web3RPCError) and any(s in message.lower() for s in _NO_FUNDS):
                raise AnchorUnavailable(f"{doing}: account {self.account or '?'} cannot pay for the gas "
                                        f"({message})") from None
            if isinstance(exc, Web3Exception):
                raise AnchorUnavailable(f"{doing}: {self.endpoint} answered with an error: {message}") from None
            raise AnchorUnavailable(f"{doing}: {self.endpoint} {_describe_answer(exc, self.url)}") from None

    def ask(self, method: str, *params: Any) -> Any:
        return _ask(self.w3, method, *params)

    def connect(self) -> int:
        if self.chain_id is not None:
            return self.chain_id
        with self.errors("connecting to the chain"):
            chain_id = _chain_id_of(self.w3)
        expected = self.settings.chain_id
        if expected is not None and expected != chain_id:
            raise ChainMismatch(f"{self.endpoint} is {chain_name(chain_id)} (chain id {chain_id}), but CHAIN_ID "
                                f"says {chain_name(expected)} ({expected}): refusing to anchor on the wrong chain")
        if chain_id in POA_CHAIN_IDS:
            self.w3.middleware_onion.inject(ExtraDataToPOAMiddleware, name="poa", layer=0)
        self.chain_id = chain_id
        return chain_id

    def require_code(self, address: str) -> None:
        with self.errors("looking up the registry contract"):
            code = self.ask("eth_getCode", address, "latest")
            if not isinstance(code, str) or not re.fullmatch(r"0x([0-9a-fA-F]{2})*", code):
                raise _Nonsense(f"answered contract code that is not hex data ({_shorten(code)})")
        if code == "0x":
            raise ChainMismatch(f"no contract at {address} on {chain_name(self.chain_id or 0)} "
                                f"(chain id {self.chain_id}): check CONTRACT_ADDRESS and RPC_URL")

    def nonce(self, address: str) -> int:
        with self.errors("reading the account's nonce"):
            return _quantity(self.ask("eth_getTransactionCount", address, "pending"), "nonce", 0, _NONCE_MAX)

    def block_number(self, doing: str) -> int:
        with self.errors(doing):
            return _quantity(self.ask("eth_blockNumber"), "block number")

    def fees(self) -> dict[str, int]:
        """EIP-1559 fees (2 x latest base fee + tip), or a legacy gas price when configured or when the chain has no
        base fee. Raises AnchorUnavailable when the node gives no usable price: pot never guesses one."""
        gwei = self.settings.gas_price_gwei
        if gwei is not None:
            return {"gasPrice": int(gwei * _GWEI)}
        with self.errors("reading gas prices"):
            block = self.ask("eth_getBlockByNumber", "latest", False)
            if not isinstance(block, Mapping):
                raise _Nonsense(f"answered no latest block ({_shorten(block)})")
            base = block.get("baseFeePerGas")
            if base is None:  # a chain without EIP-1559
                return {"gasPrice": _quantity(self.ask("eth_gasPrice"), "gas price")}
            base_fee = _quantity(base, "base fee")
            tip = self._priority_fee()
        return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}

    def _priority_fee(self) -> int:
        try:
            return _quantity(self.ask("eth_maxPriorityFeePerGas"), "priority fee")
        except (Web3Exception, _Nonsense) as exc:
            if _is_unreachable(exc):
                raise
            suggested = _node_message(exc, self.url)
            log.info("%s gives no priority fee (%s); using its fee history", self.endpoint, suggested)
        # Nodes without eth_maxPriorityFeePerGas: what recent blocks paid (the median tip of the middle bidder).
        try:
            history = self.ask("eth_feeHistory", hex(_FEE_HISTORY_BLOCKS), "latest", [_FEE_HISTORY_PERCENTILE])
            rewards = history.get("reward") if isinstance(history, Mapping) else None
            if not isinstance(rewards, list) or not all(isinstance(r, list) and r for r in rewards):
                raise _Nonsense(f"answered a fee history without rewards ({_shorten(history)})")
            paid = [tip for tip in (_quantity(r[0], "reward") for r in rewards) if tip > 0]
        except (Web3Exception, _Nonsense) as exc:
            if _is_unreachable(exc):
                raise
            raise _Nonsense(f"suggests no priority fee (eth_maxPriorityFeePerGas: {suggested}; eth_feeHistory: "
                            f"{_node_message(exc, self.url)}); set GAS_PRICE_GWEI to price transactions yourself"
                            ) from None
        return int(statistics.median(paid)) if paid else _EMPTY_BLOCKS_PRIORITY_FEE

    def wait_confirmations(self, block_number: int, timeout: float, doing: str) -> None:
        needed = self.settings.confirmation_blocks
        if needed <= 1:
            return
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            latest = self.block_number(doing)
            if latest - block_number + 1 >= needed:
                return
            if time.monotonic() >= deadline:
                raise AnchorUnavailable(f"{doing}: block {block_number} has {latest - block_number + 1} of "
                                        f"{needed} confirmations after {timeout:.0f} s; the root stays pending")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _bump(fees: dict[str, int]) -> dict[str, int]:
    return {name: int(value * _FEE_BUMP) + 1 for name, value in fees.items()}


def _higher(fees: dict[str, int], floor: dict[str, int] | None) -> dict[str, int]:
    if floor is None or set(floor) != set(fees):
        return fees
    return {name: max(fees[name], floor[name]) for name in fees}


class EthereumAnchor:
    """Anchor backend on a ProvenanceRegistry contract (see the module docstring for how it sends).

    Creating one does not touch the network; the RPC is first asked when anchoring, so a down RPC surfaces as
    :class:`pot.errors.AnchorUnavailable` then, not here. Thread-safe: anchors are sent one at a time.
    """

    backend: ClassVar[str] = BACKEND
    strength: ClassVar[Strength] = "chain"

    def __init__(
        self,
        settings: ChainSettings,
        *,
        receipt_timeout: float = 120.0,
        request_timeout: float = 10.0,
        max_sends: int = 4,
        gas_limit: int | None = None,
    ) -> None:
        """``receipt_timeout``: seconds to wait for each send to be mined (and confirmed) before re-checking the
        root and resending with the same nonce. ``max_sends``: sends per root before giving up for now.
        ``gas_limit``: a fixed gas limit instead of the node's estimate (times 1.25)."""
        self._client = _Client(settings, request_timeout)
        self._account = _load_account(settings.private_key)
        self.address: str = str(self._account.address)
        self._client.account = self.address
        self.contract_address = _checksum(settings.contract_address, "CONTRACT_ADDRESS")
        self.settings = settings
        self.receipt_timeout = receipt_timeout
        self.max_sends = max_sends
        self.gas_limit = gas_limit
        self._contract = self._client.w3.eth.contract(address=self.contract_address,  # type: ignore[call-overload]
                                                      abi=load_artifact()["abi"])
        self._nonce: int | None = None
        self._ready = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"EthereumAnchor(endpoint={self._client.endpoint!r}, contract={self.contract_address!r}, "
                f"account={self.address!r})")

    @property
    def w3(self) -> Web3:
        return self._client.w3

    @property
    def chain_id(self) -> int:
        """The chain's id, asked of the RPC (and checked against CHAIN_ID) on first use."""
        return self._client.connect()

    # --- the Anchor protocol ----------------------------------------------------------------------------------

    def anchor(self, head: SignedTreeHead) -> dict[str, Any]:
        """Anchor ``head``'s root and size with ``metaHash`` = its head hash; return the receipt details
        (idempotent)."""
        return self.anchor_root(bytes.fromhex(head.head.root_hash), bytes.fromhex(head.head.head_hash),
                                head.head.tree_size)

    def anchor_root(self, root: bytes, meta_hash: bytes, tree_size: int) -> dict[str, Any]:
        """Anchor a 32-byte root of a tree of ``tree_size`` leaves, or return the details of this account's existing
        anchor of it. See the module docstring."""
        if len(root) != 32 or len(meta_hash) != 32:
            raise UsageError("root and meta hash must be 32 bytes each")
        if not any(root):
            raise UsageError("the zero root cannot be anchored")
        if not 1 <= tree_size < 2**64:
            raise UsageError(f"a tree size of {tree_size} cannot be anchored (1 to 2**64-1)")
        with self._lock:
            self._prepare()
            existing = self.lookup(root, meta_hash, tree_size)
            if existing is not None:
                return existing
            return self._send_until_mined(root, meta_hash, tree_size)

    def lookup(self, root: bytes, meta_hash: bytes | None = None, tree_size: int | None = None
               ) -> dict[str, Any] | None:
        """Details of this account's anchor of ``root`` read from the chain, or None when it has none. Other
        accounts' anchors of the same root are theirs, and are not looked at.

        Raises :class:`pot.errors.AnchorMismatch` when this account anchored the root with another ``metaHash`` than
        ``meta_hash`` or another tree size than ``tree_size`` (for another head).
        """
        self._prepare()
        client = self._client
        doing = f"looking up root 0x{root.hex()[:16]}..."
        with client.errors(doing):
            try:
                timestamp, block_number, anchored_size = self._contract.functions.anchorOf(
                    self.address, root).call(block_identifier="latest")
            except (BadFunctionCallOutput, ContractLogicError):
                raise ChainMismatch(f"the contract at {self.contract_address} does not answer anchorOf(address,"
                                    "bytes32): it is not a ProvenanceRegistry of this pot version (check "
                                    "CONTRACT_ADDRESS, or deploy one with `pot contract deploy`)") from None
            if timestamp == 0:
                return None
            logs = client.w3.eth.get_logs({"address": self.contract_address,  # type: ignore[typeddict-item]
                                           "fromBlock": block_number, "toBlock": block_number,
                                           "topics": [ANCHORED_TOPIC, _hex(root), None,
                                                      "0x" + self.address[2:].lower().rjust(64, "0")]})
            found = [entry for entry in logs if not entry.get("removed")]
            if not found:
                raise AnchorUnavailable(f"{doing}: anchored in block {block_number}, but {client.endpoint} returns "
                                        "no Anchored event for it (a node that prunes logs?)")
            details = self._details(found[0], int(timestamp))
        if meta_hash is not None and details["meta_hash"] != _hex(meta_hash):
            raise AnchorMismatch(f"root 0x{root.hex()} was already anchored by {self.address} in block {block_number} "
                                 f"(tx {details['tx_hash']}) for another tree head (metaHash {details['meta_hash']})")
        if tree_size is not None and int(anchored_size) != tree_size:
            raise AnchorMismatch(f"root 0x{root.hex()} was already anchored by {self.address} in block {block_number} "
                                 f"(tx {details['tx_hash']}) as the root of {anchored_size} leaves, not {tree_size}")
        client.wait_confirmations(block_number, self.receipt_timeout, doing)
        return details

    # --- sending ----------------------------------------------------------------------------------------------

    def _prepare(self) -> None:
        if self._ready:
            return
        self._client.connect()
        self._client.require_code(self.contract_address)
        self._ready = True

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self._client.nonce(self.address)
        return self._nonce

    def _estimate(self, root: bytes, meta_hash: bytes, tree_size: int) -> int | None:
        """Gas for the call, or None when the call would revert because the root got anchored meanwhile."""
        if self.gas_limit is not None:
            return self.gas_limit
        with self._client.errors("estimating gas"):
            try:
                estimate = self._contract.functions.anchor(root, meta_hash, tree_size).estimate_gas(
                    {"from": self.address})
            except ContractCustomError:
                return None  # AlreadyAnchored (InvalidAnchor cannot be: anchor_root refuses those arguments)
        return int(estimate * _GAS_MARGIN)

    def _send_until_mined(self, root: bytes, meta_hash: bytes, tree_size: int) -> dict[str, Any]:
        client = self._client
        doing = f"anchoring root 0x{root.hex()[:16]}..."
        sent: list[bytes] = []  # every transaction sent for this root; all share one nonce
        nonce: int | None = None
        fees: dict[str, int] | None = None
        gas: int | None = None
        for _ in range(self.max_sends):
            if nonce is None:
                gas = self._estimate(root, meta_hash, tree_size)
                if gas is None:
                    return self._existing_or_fail(root, meta_hash, tree_size, doing)
                nonce = self._next_nonce()
            fees = _higher(client.fees(), _bump(fees) if fees else None)
            params: dict[str, Any] = {"from": self.address, "nonce": nonce, "gas": gas, "chainId": client.chain_id,
                                      **fees}
            tx = self._contract.functions.anchor(root, meta_hash, tree_size).build_transaction(params)
            signed = self._account.sign_transaction(tx)
            outcome = self._send(signed.raw_transaction, doing)
            if outcome == "stale-nonce":
                # Another transaction from this account took the nonce: maybe our own earlier send for this root.
                existing = self.lookup(root, meta_hash, tree_size)
                if existing is not None:
                    return existing
                log.info("nonce %d of %s is taken; re-reading it from the node", nonce, self.address)
                self._nonce, nonce, fees = None, None, None
                continue
            if outcome == "underpriced":
                if not sent:  # not our replacement: a transaction we do not know holds this nonce
                    self._nonce, nonce, fees = None, None, None
                continue  # else: the next round bumps the fees again
            sent.append(bytes(signed.hash))
            self._nonce = max(self._nonce or 0, nonce + 1)
            receipt = self._wait_for_receipt(sent, doing)
            if receipt is None:
                existing = self.lookup(root, meta_hash, tree_size)  # mined while we were not looking?
                if existing is not None:
                    return existing
                log.warning("anchor transaction %s not mined after %.0f s; resending with higher fees and the "
                            "same nonce", _hex(sent[-1]), self.receipt_timeout)
                continue
            return self._finish(receipt, root, meta_hash, tree_size, doing)
        raise AnchorUnavailable(f"{doing}: not mined after {self.max_sends} sends of {self.receipt_timeout:.0f} s "
                                f"each (last tx {_hex(sent[-1]) if sent else 'none'}); the root stays pending")

    def _send(self, raw: bytes, doing: str) -> str:
        with self._client.errors(f"{doing}: sending the transaction"):
            try:
                self._client.w3.eth.send_raw_transaction(raw)
            except Web3RPCError as exc:
                message = _node_message(exc, self._client.url).lower()
                if any(s in message for s in _ALREADY_SENT):
                    return "sent"  # this very transaction is in the pool already (a resend)
                if any(s in message for s in _NONCE_STALE):
                    return "stale-nonce"
                if any(s in message for s in _UNDERPRICED):
                    return "underpriced"
                raise
        return "sent"

    def _wait_for_receipt(self, hashes: Sequence[bytes], doing: str) -> Any | None:
        deadline = time.monotonic() + self.receipt_timeout
        delay = 0.05
        while True:
            for tx_hash in reversed(hashes):
                with self._client.errors(f"{doing}: waiting for the receipt"):
                    try:
                        return self._client.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                    except (TransactionNotFound, TimeExhausted):
                        pass
            if time.monotonic() >= deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _finish(self, receipt: Any, root: bytes, meta_hash: bytes, tree_size: int, doing: str) -> dict[str, Any]:
        with self._client.errors(doing):  # the receipt is the node's answer: a malformed one is its fault
            tx = _hex(receipt["transactionHash"])
            status, block_number, gas_used = int(receipt["status"]), int(receipt["blockNumber"]), receipt.get("gasUsed")
        if status != 1:
            # Did an earlier send of ours for this root win (the contract refuses an account's second anchor)?
            existing = self.lookup(root, meta_hash, tree_size)
            if existing is not None:
                return existing
            raise AnchorReverted(f"{doing}: transaction {tx} reverted in block {block_number} (status 0, "
                                 f"{gas_used} of its gas limit used); nothing was anchored")
        self._client.wait_confirmations(block_number, self.receipt_timeout, doing)
        if self.settings.confirmation_blocks > 1:
            # A reorganisation may have moved or dropped the transaction while we waited for confirmations.
            existing = self.lookup(root, meta_hash, tree_size)
            if existing is None:
                raise AnchorUnavailable(f"{doing}: transaction {tx} was dropped by a chain reorganisation; the root "
                                        "stays pending")
            return existing
        with self._client.errors(doing):
            logs = [entry for entry in receipt["logs"]
                    if _hex(entry["address"]) == self.contract_address.lower() and entry["topics"]
                    and _hex(entry["topics"][0]) == ANCHORED_TOPIC and _hex(entry["topics"][1]) == _hex(root)]
            if not logs:
                raise AnchorReverted(f"{doing}: transaction {tx} succeeded but emitted no Anchored event for the "
                                     "root")
            block = self._client.w3.eth.get_block(receipt["blockHash"])
            return self._details(logs[0], int(block["timestamp"]))

    def _details(self, entry: Any, block_time: int) -> dict[str, Any]:
        topics = entry["topics"]
        details = {
            "chain_id": int(self._client.chain_id or self._client.connect()),
            "contract": self.contract_address,
            "tx_hash": _hex(entry["transactionHash"]),
            "block_number": int(entry["blockNumber"]),
            "block_hash": _hex(entry["blockHash"]),
            "block_time": int(block_time),
            "log_index": int(entry["logIndex"]),
            "submitter": str(Web3.to_checksum_address("0x" + bytes(topics[3])[-20:].hex())),
            "meta_hash": _hex(topics[2]),
        }
        check_details(details)
        return details

    def _existing_or_fail(self, root: bytes, meta_hash: bytes, tree_size: int, doing: str) -> dict[str, Any]:
        existing = self.lookup(root, meta_hash, tree_size)
        if existing is None:
            raise AnchorUnavailable(f"{doing}: the node says the call would revert, yet the root is not anchored")
        return existing


# --- deployment ---------------------------------------------------------------------------------------------------


def deploy_registry(settings: ChainSettings, *, timeout: float = 120.0, request_timeout: float = 10.0) -> str:
    """Deploy the committed ProvenanceRegistry build with ``settings``' key; return its checksummed address.

    Waits for the receipt (and ``confirmation_blocks``), checks its status and that code is at the address.
    """
    client = _Client(settings, request_timeout)
    account = _load_account(settings.private_key)
    client.account = str(account.address)
    chain_id = client.connect()
    artifact = load_artifact()
    factory = client.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    doing = f"deploying ProvenanceRegistry on {chain_name(chain_id)}"
    with client.errors(doing):
        gas = int(factory.constructor().estimate_gas({"from": account.address}) * _GAS_MARGIN)
    nonce = client.nonce(account.address)
    fees = client.fees()
    params: dict[str, Any] = {"from": account.address, "nonce": nonce, "gas": gas, "chainId": chain_id, **fees}
    tx = factory.constructor().build_transaction(params)
    signed = account.sign_transaction(tx)
    with client.errors(doing):
        tx_hash = client.w3.eth.send_raw_transaction(signed.raw_transaction)
        try:
            receipt = client.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.1)
        except TimeExhausted:
            raise AnchorUnavailable(f"{doing}: transaction {_hex(tx_hash)} not mined within {timeout:.0f} s"
                                    ) from None
        status, block_number = int(receipt["status"]), int(receipt["blockNumber"])
        created: Any = receipt.get("contractAddress")
        if status == 1 and not (isinstance(created, str) and Web3.is_address(created)):
            raise _Nonsense(f"answered a receipt without a contract address ({_shorten(created)})")
    if status != 1:
        raise AnchorReverted(f"{doing}: transaction {_hex(tx_hash)} reverted (status 0)")
    address = str(Web3.to_checksum_address(created))
    client.wait_confirmations(block_number, timeout, doing)
    client.require_code(address)
    return address


# --- wiring into the recorder ---------------------------------------------------------------------------------------


def chain_anchor_for(config: ProvenanceConfig, store: LogStore, key: SigningKey | None = None) -> EthereumAnchor | None:
    """The chain anchor the configuration asks for, or None (with a warning) when it asks for none, or when the
    ``[chain]`` extra is not installed: then the heads are anchored locally and stay pending, and recording goes on.

    Settings come from ``config.client_config``, the environment, ``.env`` and the store's saved settings, in that
    order (see :meth:`pot.config.ChainSettings.resolve`). Does not contact the RPC. ``key`` (the Ed25519 signing
    key) is not needed by this backend: receipts are signed by the recorder.
    """
    del key
    saved = {name: value for name in SAVED_SETTINGS if (value := store.get_setting(name)) is not None}
    try:
        settings = ChainSettings.resolve(overrides=config.client_config, saved=saved)
    except PotError as exc:
        log.warning("blockchain anchoring is enabled but the chain settings are not usable (%s): tree heads are "
                    "anchored to the local chain only and stay pending for `pot anchor --pending`", exc)
        return None
    if not settings.wants_chain:
        reason = ("FORCE_LOCAL_BLOCKCHAIN is set" if settings.force_local else
                  "BLOCKCHAIN_CLIENT_TYPE is local" if settings.client_type == "local" else "no RPC_URL is set")
        log.warning("blockchain anchoring is enabled but %s: tree heads are anchored to the local chain only",
                    reason)
        return None
    if _missing_chain_client is not None:
        log.warning("blockchain anchoring is enabled but the chain client is not installed (%s): tree heads are "
                    "anchored to the local chain only and stay pending for `pot anchor --pending`", CHAIN_EXTRA)
        return None
    try:
        return EthereumAnchor(settings)
    except UsageError as exc:  # no CONTRACT_ADDRESS yet (`pot contract deploy` makes one), no PRIVATE_KEY, a typo
        log.warning("blockchain anchoring is enabled but %s; meanwhile tree heads are anchored to the local chain "
                    "only and stay pending, and `pot anchor --pending` sends them once it is set", exc)
        return None


# --- `pot test --blockchain` ------------------------------------------------------------------------------------


def probe(settings: ChainSettings, *, request_timeout: float = 10.0) -> list[tuple[str, bool, str]]:
    """Check that anchoring can work: RPC reachable, chain id, contract code, account balance and, on a dev
    chain (31337), a round-trip anchor of a random root. Returns (name, passed, detail) rows; never raises a
    PotError."""
    rows: list[tuple[str, bool, str]] = []
    try:
        client = _Client(settings, request_timeout)
    except PotError as exc:
        return [("chain client" if _missing_chain_client else "RPC", False, str(exc))]
    try:
        block = client.block_number("connecting")
        rows.append(("RPC reachable", True, f"{client.endpoint} answers, latest block {block}"))
    except PotError as exc:
        return [("RPC reachable", False, str(exc))]
    try:
        chain_id = client.connect()
        rows.append(("chain id", True, f"{chain_id} ({chain_name(chain_id)})"))
    except PotError as exc:
        rows.append(("chain id", False, str(exc)))
        return rows
    contract_ok = False
    try:
        address = _checksum(settings.contract_address, "CONTRACT_ADDRESS")
        client.require_code(address)
        rows.append(("contract", True, f"ProvenanceRegistry code at {address}"))
        contract_ok = True
    except PotError as exc:
        rows.append(("contract", False, str(exc)))
    try:
        account = _load_account(settings.private_key)
        with client.errors("reading the balance"):
            balance = _quantity(client.ask("eth_getBalance", account.address, "latest"), "balance")
        fees = client.fees()
        price = fees.get("maxFeePerGas", fees.get("gasPrice", 0))
        needed = 60_000 * price
        coin = "POL" if chain_id in POA_CHAIN_IDS else "ETH"
        detail = f"{account.address} holds {balance / 10**18:.6f} {coin} (an anchor costs about {needed / 10**18:.6f})"
        rows.append(("account balance", balance >= needed, detail if balance >= needed else
                     detail + ": not enough to pay for an anchor"))
    except PotError as exc:
        rows.append(("account balance", False, str(exc)))
    if chain_id in DEV_CHAIN_IDS and contract_ok and rows[-1][1]:
        try:
            anchor = EthereumAnchor(settings, request_timeout=request_timeout, receipt_timeout=30.0)
            root, meta = os.urandom(32), os.urandom(32)
            details = anchor.anchor_root(root, meta, 1)
            again = anchor.lookup(root, meta, 1)
            ok = again is not None and again["tx_hash"] == details["tx_hash"]
            rows.append(("round trip", ok, f"anchored a random root in block {details['block_number']} (tx "
                                           f"{details['tx_hash']}); anchorOf {'finds' if ok else 'does NOT find'} it"))
        except PotError as exc:
            rows.append(("round trip", False, str(exc)))
    return rows


# --- `pot verify --rpc` -------------------------------------------------------------------------------------------


def online_checker(rpc_url: str, *, request_timeout: float = 10.0
                   ) -> Callable[[ProvenanceProof, VerificationReport], None]:
    """A chain checker for :func:`pot.log.verify.verify_proof`: checks each ``ethereum`` receipt against ``rpc_url``.

    Does not contact the RPC until called; raises :class:`pot.errors.AnchorUnavailable` at once when the ``[chain]``
    extra is not installed. For each receipt of backend ``ethereum`` or ``ethereum-aggregate`` (whose root and size
    are the aggregate's, ``aggregate_root`` and ``aggregate_size``, rather than the head's), in order:

    1. the RPC's chain id is the receipt's ``chain_id``;
    2. there is code at ``contract``;
    3. the transaction's receipt exists, has status 1, and is in block ``block_number`` with hash ``block_hash``,
       which is the canonical block at that height, with timestamp ``block_time``;
    4. the log at ``log_index`` is ``Anchored(root, metaHash, submitter)`` from ``contract``, with the head's
       root, the receipt's ``meta_hash`` and ``submitter``;
    5. ``anchorOf(submitter, root)`` on the contract names the same block and time, and the tree size;
    6. no disclosed record the head covers (``seq < tree_size``) is dated after the block time (compared in whole
       seconds, the resolution of block time).

    It sets ``chain_time`` (the block time) and ``chain_detail`` on the head's :class:`pot.log.verify.HeadStatus` and
    raises :class:`pot.errors.ChainCheckError` at the first mismatch or when the RPC cannot answer.
    """
    _require_chain_client()
    state: dict[str, Any] = {}
    endpoint = endpoint_of(rpc_url)

    def check(proof: ProvenanceProof, report: VerificationReport) -> None:
        if "w3" not in state:
            w3 = _make_web3(rpc_url, request_timeout)
            state["w3"] = w3
        w3 = state["w3"]
        anchored_by: dict[int, tuple[datetime, int]] = {}  # head index -> earliest (block time, block number)
        heads: dict[str, tuple[int, TreeHead]] = {
            entry.head.head_hash: (index, entry.head) for index, entry in enumerate(proof.tree_heads)}
        receipts = [r for r in proof.anchors if r.backend in (BACKEND, aggregate.BACKEND)]
        if not receipts:
            report.notes.append("no Ethereum anchor receipt in the proof: nothing to check against the chain")
            return
        try:
            chain_id = _chain_id_of(w3)
            if chain_id in POA_CHAIN_IDS and "poa" not in state:
                w3.middleware_onion.inject(ExtraDataToPOAMiddleware, name="poa", layer=0)
                state["poa"] = True
        except Exception as exc:
            raise ChainUnreachable(f"cannot ask {endpoint} for its chain id: {_describe(exc, rpc_url)}") from None
        if chain_id in DEV_CHAIN_IDS:
            report.notes.append(f"{endpoint} is {chain_name(chain_id)}: whoever runs a development chain sets its "
                                "clock and can rewrite it, so its block times prove no time to anyone else")
        abi = load_artifact()["abi"]
        for receipt in receipts:
            if receipt.head_hash not in heads:
                raise ChainCheckError("an ethereum receipt names a head that is not in the proof")
            index, head = heads[receipt.head_hash]
            details = receipt.details
            where = f"head {head.tree_size}: tx {details.get('tx_hash')}"
            # An aggregated receipt's transaction anchors the aggregate's root and size; its offline check (run
            # before this one) showed that the head's leaf is in that tree.
            aggregated = receipt.backend == aggregate.BACKEND
            try:
                (aggregate.check_details if aggregated else check_details)(details)
            except ValueError as exc:
                raise ChainCheckError(f"{where}: {exc}") from None
            root_hash = details["aggregate_root"] if aggregated else head.root_hash
            tree_size = details["aggregate_size"] if aggregated else head.tree_size
            try:
                _check_on_chain(w3, abi, chain_id, root_hash, tree_size, details, where)
            except ChainCheckError:
                raise
            except Exception as exc:
                raise ChainUnreachable(f"{where}: {endpoint} could not answer: {_describe(exc, rpc_url)}") from None
            block_time = datetime.fromtimestamp(details["block_time"], UTC)
            earliest = anchored_by.get(index)
            if earliest is None or block_time < earliest[0]:
                anchored_by[index] = (block_time, details["block_number"])
            status = report.heads[index]
            status.chain_time = format_timestamp(block_time)
            status.chain_detail = (f"chain {details['chain_id']} block {details['block_number']} tx "
                                   f"{details['tx_hash']}")
        _check_records_predate_blocks(proof, anchored_by)

    return check


# The same allowance the offline check applies to a receipt's claim (pot.anchors.base.TIME_ALLOWANCE_SECONDS): here
# the chain has confirmed the block times, so the rule runs again on times the chain vouches for.
BLOCK_TIME_ALLOWANCE_SECONDS = TIME_ALLOWANCE_SECONDS


def _check_records_predate_blocks(proof: ProvenanceProof, anchored_by: dict[int, tuple[datetime, int]]) -> None:
    """No record is dated after the earliest chain anchor of a head that covers it (plus the allowance).

    One pass over the records: walking the heads from the newest, keep the earliest anchor of any head that covers
    a given seq (a head of size n covers seq < n).
    """
    if not anchored_by:
        return
    sizes = [entry.head.tree_size for entry in proof.tree_heads]
    bound: list[tuple[datetime, int] | None] = [None] * len(sizes)
    best: tuple[datetime, int] | None = None
    for index in range(len(sizes) - 1, -1, -1):
        mine = anchored_by.get(index)
        if mine is not None and (best is None or mine[0] < best[0]):
            best = mine
        bound[index] = best
    allowance = timedelta(seconds=BLOCK_TIME_ALLOWANCE_SECONDS)
    head = 0
    for item in proof.disclosed:
        record: Any = item.record  # every record kind has seq and timestamp
        while head < len(sizes) and sizes[head] <= record.seq:
            head += 1
        if head == len(sizes) or bound[head] is None:
            continue
        block_time, block_number = bound[head]  # type: ignore[misc]
        stamp = parse_timestamp(record.timestamp)
        if stamp.replace(microsecond=0) > block_time + allowance:
            raise ChainCheckError(f"record seq {record.seq} is dated {record.timestamp}, after block {block_number} "
                                  f"that anchors it ({format_timestamp(block_time)}, allowing "
                                  f"{BLOCK_TIME_ALLOWANCE_SECONDS} s)")


def _describe(exc: BaseException, url: str) -> str:
    if _is_unreachable(exc):
        return _unreachable_reason(exc)
    if isinstance(exc, Web3Exception):
        return _node_message(exc, url)
    return _describe_answer(exc, url)


def _check_on_chain(w3: Web3, abi: list[Any], chain_id: int, root_hash: str, tree_size: int,
                    details: dict[str, Any], where: str) -> None:
    """The chain holds ``details``' anchor of ``root_hash`` (64 hex) as the root of ``tree_size`` leaves: the head's
    own root and size for an ``ethereum`` receipt, the aggregate's for an ``ethereum-aggregate`` one."""
    def fail(message: str) -> NoReturn:
        raise ChainCheckError(f"{where}: {message}")

    if chain_id != details["chain_id"]:
        fail(f"the RPC is {chain_name(chain_id)} (chain id {chain_id}), the receipt names chain id "
             f"{details['chain_id']}")
    contract = str(Web3.to_checksum_address(details["contract"]))
    if not w3.eth.get_code(contract):  # type: ignore[arg-type]
        fail(f"no contract at {contract}")
    try:
        receipt = w3.eth.get_transaction_receipt(details["tx_hash"])
    except TransactionNotFound:
        fail("the chain has no such transaction")
    if receipt["status"] != 1:
        fail("the transaction reverted (status 0)")
    if int(receipt["blockNumber"]) != details["block_number"] or _hex(receipt["blockHash"]) != details["block_hash"]:
        fail(f"the transaction is in block {receipt['blockNumber']} ({_hex(receipt['blockHash'])}), not in block "
             f"{details['block_number']} ({details['block_hash']})")
    block = w3.eth.get_block(details["block_number"])
    if _hex(block["hash"]) != details["block_hash"]:
        fail(f"block {details['block_number']} on the chain is not {details['block_hash']} (reorganised away?)")
    if int(block["timestamp"]) != details["block_time"]:
        fail(f"block {details['block_number']} has time {block['timestamp']}, not {details['block_time']}")
    entry = next((e for e in receipt["logs"] if int(e["logIndex"]) == details["log_index"]), None)
    if entry is None:
        fail(f"the transaction has no log at index {details['log_index']}")
    topics = [_hex(t) for t in entry["topics"]]
    if _hex(entry["address"]) != contract.lower() or len(topics) != 4 or topics[0] != ANCHORED_TOPIC:
        fail(f"log {details['log_index']} is not an Anchored event of {contract}")
    if topics[1] != "0x" + root_hash:
        fail("the Anchored event is for another root")
    if topics[2] != details["meta_hash"]:
        fail("the Anchored event names another metaHash (tree head)")
    if topics[3][-40:] != details["submitter"][2:].lower():
        fail("the Anchored event names another submitter")
    registry = w3.eth.contract(address=contract, abi=abi)  # type: ignore[call-overload]
    # The submitter's own anchor of the root: another account's anchor of the same root (a front-runner's) is
    # another record, and cannot stand in for it or spoil it.
    try:
        anchored_time, anchored_block, anchored_size = registry.functions.anchorOf(
            details["submitter"], bytes.fromhex(root_hash)).call()
    except (BadFunctionCallOutput, ContractLogicError):
        fail(f"the contract at {contract} does not answer anchorOf(address,bytes32): not a ProvenanceRegistry of "
             "this pot version")
    if (int(anchored_block), int(anchored_time)) != (details["block_number"], details["block_time"]):
        fail(f"anchorOf({details['submitter']}, root) on the contract says block {anchored_block} at "
             f"{anchored_time}, not block {details['block_number']} at {details['block_time']}")
    if int(anchored_size) != tree_size:
        fail(f"anchorOf({details['submitter']}, root) on the contract says the root is of {anchored_size} leaves, "
             f"not of {tree_size}")
