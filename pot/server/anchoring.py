"""The server's background anchorer: each interval, one chain transaction for the newest heads of every changed model.

``pot serve --anchor-interval SECONDS`` starts an :class:`Anchorer` in every server process. Each interval it:

1. takes the anchoring lease, a row of the store's settings (``anchoring:lease``) naming its owner and an expiry,
   set inside one of the store's exclusive transactions; a process that finds another's unexpired lease does
   nothing this interval, so of several server processes on one database one anchors at a time;
2. finishes an unfinished aggregate first (``anchoring:plan``, written before its transaction is sent and cleared
   once every receipt is stored): the registry refuses an account's second anchor of a root and the chain anchor
   looks a root up before sending, so a process that died between sending and storing leaves no double anchor,
   and whoever anchors next stores the receipts;
3. collects the newest signed head of every model with a head newer than its newest ``ethereum-aggregate``
   receipt, builds the aggregate tree over them (ordered by model id, see :mod:`pot.anchors.aggregate`), anchors
   its root with one ``anchor`` call, and stores one receipt per head holding the transaction and the head's path.

Without a chain (no RPC_URL, CONTRACT_ADDRESS or PRIVATE_KEY, exactly as the recorder decides), each changed
model's newest head is anchored in the local chain file instead, with an ordinary ``localchain`` receipt: a line of
a local file costs nothing, so there is nothing to aggregate. When the chain cannot be reached, the heads are
anchored locally meanwhile and the aggregate is tried again at the next interval.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pot.anchors import aggregate
from pot.anchors.base import Anchor, AnchorReceipt
from pot.errors import AnchorError, PotError
from pot.log.heads import SignedTreeHead
from pot.log.keys import SigningKey
from pot.log.records import format_timestamp
from pot.log.store import LogStore

if TYPE_CHECKING:
    from pot.anchors.ethereum import EthereumAnchor

log = logging.getLogger("pot.server.anchoring")

LEASE_KEY = "anchoring:lease"
PLAN_KEY = "anchoring:plan"
# A lease outlives the longest a chain anchor may take (four sends of two minutes each), so it never expires
# under a live anchorer; one whose process died is taken over after this long.
LEASE_SECONDS = 900.0
LOCAL_BACKEND = "localchain"


@dataclass(frozen=True, slots=True)
class Anchored:
    """What one anchoring step did: ``heads`` heads got a ``backend`` receipt (in one transaction ``tx_hash``)."""

    backend: str
    heads: int
    tx_hash: str | None = None
    gas_used: int | None = None


class Anchorer:
    """Anchors the store's changed heads every ``interval`` seconds in a background thread (:meth:`start`,
    :meth:`stop`), or once per :meth:`run_once` call."""

    def __init__(self, store: LogStore, key: SigningKey, *, chain: EthereumAnchor | None, local: Anchor,
                 interval: float, clock: Callable[[], datetime] | None = None, owner: str | None = None,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        if not interval > 0:
            raise ValueError("the anchor interval must be positive")
        self.store, self.key, self.chain, self.local = store, key, chain, local
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.owner = owner or uuid.uuid4().hex
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the background thread -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pot-server-anchor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except PotError as exc:
                log.error("anchoring failed: %s (the heads stay pending; retried in %.0f s)", exc, self.interval)
            except Exception:
                log.exception("anchoring failed with a bug in pot (the heads stay pending)")

    # --- one interval --------------------------------------------------------------------------------------------

    def run_once(self) -> list[Anchored]:
        """Anchor what is pending now, if this process holds the lease; what it anchored (empty: nothing to do, or
        another process holds the lease)."""
        if not self._take_lease():
            return []
        try:
            return self._anchor_pending()
        finally:
            self._release_lease()

    def _anchor_pending(self) -> list[Anchored]:
        done: list[Anchored] = []
        if self.chain is None:
            heads = self.store.pending_heads(LOCAL_BACKEND, newest_only=True)
            for head in heads:
                self._issue(head, LOCAL_BACKEND, self.local.anchor(head))
            return [Anchored(LOCAL_BACKEND, len(heads))] if heads else []
        try:
            plan = self._load_plan()
            if plan:
                done.append(self._aggregate(plan))
            heads = self.store.pending_heads(aggregate.BACKEND, newest_only=True)
            if heads:
                done.append(self._aggregate(sorted(heads, key=lambda h: h.head.model_id)))
        except AnchorError as exc:
            log.warning("the aggregate anchor failed: %s; the changed heads are anchored locally meanwhile and the "
                        "aggregate is tried again in %.0f s", exc, self.interval)
            for head in self.store.pending_heads(LOCAL_BACKEND, newest_only=True):
                self._issue(head, LOCAL_BACKEND, self.local.anchor(head))
            raise
        return done

    def _aggregate(self, heads: list[SignedTreeHead]) -> Anchored:
        assert self.chain is not None
        tree = aggregate.Aggregate.build([h.head.head_hash for h in heads])
        # The plan is stored before the transaction is sent: a process that dies after sending leaves it for the
        # next anchorer, which looks the same root up instead of anchoring other heads and paying again.
        self.store.set_setting(PLAN_KEY, json.dumps(
            {"root": tree.root.hex(), "heads": [[h.head.model_id, h.head.head_hash] for h in heads]},
            separators=(",", ":")))
        details = self.chain.anchor_root(tree.root, tree.meta_hash(self.key.key_id), tree.size)
        for index, head in enumerate(heads):
            self._issue(head, aggregate.BACKEND, tree.details(index, details))
        self.store.set_setting(PLAN_KEY, "")
        log.info("anchored the heads of %d models in tx %s", len(heads), details["tx_hash"])
        return Anchored(aggregate.BACKEND, len(heads), str(details["tx_hash"]))

    def _issue(self, head: SignedTreeHead, backend: str, details: dict[str, Any]) -> None:
        # a receipt is never dated before its head, even if the wall clock stepped back
        timestamp = max(format_timestamp(self._clock()), head.head.timestamp)
        receipt = AnchorReceipt.issue(backend, head.head, details, timestamp, self.key)
        self.store.add_receipt(head.head.model_id, receipt)  # a head already holding one keeps it

    def _load_plan(self) -> list[SignedTreeHead]:
        raw = self.store.get_setting(PLAN_KEY)
        if not raw:
            return []
        plan = json.loads(raw)
        heads = []
        for model_id, head_hash in plan["heads"]:
            found = [h for h in self.store.heads(model_id) if h.head.head_hash == head_hash]
            if not found:
                raise PotError(f"the unfinished aggregate names head {head_hash} of {model_id!r}, which the store "
                               "does not hold")
            heads.append(found[0])
        return heads

    # --- the lease -----------------------------------------------------------------------------------------------

    def _take_lease(self) -> bool:
        def take() -> bool:
            now = time.time()
            raw = self.store.get_setting(LEASE_KEY)
            if raw:
                held = json.loads(raw)
                if held["owner"] != self.owner and held["until"] > now:
                    return False
            self.store.set_setting(LEASE_KEY, json.dumps({"owner": self.owner, "until": now + self.lease_seconds}))
            return True
        return self.store.exclusive(take)

    def _release_lease(self) -> None:
        def release() -> None:
            raw = self.store.get_setting(LEASE_KEY)
            if raw and json.loads(raw)["owner"] == self.owner:
                self.store.set_setting(LEASE_KEY, json.dumps({"owner": self.owner, "until": 0}))
        self.store.exclusive(release)


def anchorer_for(store: LogStore, key: SigningKey, interval: float) -> Anchorer:
    """The anchorer ``pot serve --anchor-interval`` runs: on the chain the environment configures (RPC_URL,
    CONTRACT_ADDRESS, PRIVATE_KEY, as for the recorder), else on the local chain file in the store directory."""
    from pot.anchors.ethereum import chain_anchor_for
    from pot.anchors.localchain import LocalChainAnchor
    from pot.config import ProvenanceConfig
    from pot.log.store import LOCAL_CHAIN_NAME

    chain = chain_anchor_for(ProvenanceConfig(blockchain_enabled=True), store)
    local = LocalChainAnchor(store.root / LOCAL_CHAIN_NAME, key, tips=store)
    return Anchorer(store, key, chain=chain, local=local, interval=interval)
