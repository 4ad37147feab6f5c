"""``pot test``: checks that the store, the signing key and the anchors work here, without writing records."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pot.anchors.localchain import LocalChain, LocalChainAnchor, Tip
from pot.config import ChainSettings, ProvenanceConfig
from pot.errors import AnchorReceiptError, AnchorUnavailable, PotError
from pot.log.canonical import DOMAIN_PROOF
from pot.log.keys import PublicKey, SigningKey, passphrase_from_env
from pot.log.merkle import Frontier
from pot.log.store import LOCAL_CHAIN_NAME, LogStore, Store, open_store


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    passed: bool
    detail: str


def check_local(store_dir: Path, database: str | None = None) -> list[Probe]:
    """Store opens and takes the write lock, the key unlocks and signs, the local chain verifies end to end: every
    line an entry, every link and signature, no two heads for one model and size (in the file, or between the file
    and the store), the entry the store last anchored still there, and the file writable. ``database``: a
    PostgreSQL store's URL (``store_dir`` then holds the key and the local chain)."""
    results: list[Probe] = []
    try:
        store = open_store(database, root=store_dir)
        models = store.models()
    except PotError as exc:
        return [Probe("store", False, str(exc))]
    where = store.root if isinstance(store, Store) else getattr(store, "url", "PostgreSQL")
    results.append(Probe("store", True, f"{where}: {len(models)} model(s), "
                                        f"{sum(store.size(m) for m in models)} record(s)"))
    if isinstance(store, Store):
        try:
            conn = sqlite3.connect(store.db_path, timeout=5.0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
                conn.execute("ROLLBACK")
            finally:
                conn.close()
            results.append(Probe("store writable", True, "write lock taken and released"))
        except sqlite3.Error as exc:
            results.append(Probe("store writable", False, f"cannot take the write lock: {exc}"))
    else:
        try:
            store.exclusive(lambda: None)  # a transaction that takes the store-wide lock and writes nothing
            results.append(Probe("store writable", True, "store lock taken and released"))
        except PotError as exc:
            results.append(Probe("store writable", False, str(exc)))
    key_path = ProvenanceConfig().resolve_key_file(store.root)
    key = None
    try:
        key = SigningKey.load(key_path, passphrase_from_env())
        saved = store.get_setting("key_id")
        if saved is not None and saved != key.key_id:
            results.append(Probe("signing key", False, f"{key_path} is not the key this store signs with"))
        else:
            probe = {"probe": "pot test"}
            signature = key.sign(DOMAIN_PROOF, probe)
            ok = key.public.verify(DOMAIN_PROOF, probe, signature)
            results.append(Probe("signing key", ok, f"{key_path}: key id {key.key_id[:16]}..., "
                                 + ("signs and verifies" if ok else "signature round trip FAILED")))
    except PotError as exc:
        results.append(Probe("signing key", False, str(exc)))
    chain_path = store.root / LOCAL_CHAIN_NAME
    if key is None:
        results.append(Probe("local chain", False, "not checked: no usable signing key"))
    else:
        try:
            detail = _check_local_chain(store, chain_path, key.public)
            results.append(Probe("local chain", True, f"{chain_path}: {detail}"))
        except PotError as exc:
            results.append(Probe("local chain", False, f"{chain_path}: {exc}"))
    store.close()
    return results


def _check_local_chain(store: LogStore, path: Path, key: PublicKey) -> str:
    """The chain file verifies end to end (LocalChain.audit, with the tip the store remembers), anchors no head
    that contradicts the store's head of that model and size, and can be written. Raises PotError naming what is
    wrong; returns the one-line detail."""
    remembered = store.local_chain_tip()
    tip = Tip(*remembered) if remembered is not None else None
    audit = LocalChain(path).audit(key, tip=tip)
    # The file may agree with itself while the store was rewritten (and the recorder then refused to anchor the
    # rewritten heads): each anchored head must be the store's head of that model and size, and its root the root
    # of the store's records up to that size.
    by_model: dict[str, list[int]] = {}
    for model, size in audit.heads:
        by_model.setdefault(model, []).append(size)
    for model, anchored_sizes in sorted(by_model.items()):
        for signed in store.heads(model):
            head = signed.head
            anchored = audit.heads.get((model, head.tree_size))
            if anchored is not None and anchored.head_hash != head.head_hash:
                raise AnchorReceiptError(
                    f"equivocation: line {anchored.index + 1} anchors head {head.tree_size} of model {model!r} with "
                    f"root {anchored.root_hash[:16]}..., but the store's head {head.tree_size} has root "
                    f"{head.root_hash[:16]}...: the store's log was changed after it was anchored")
        logged = store.size(model)
        sizes = sorted(size for size in anchored_sizes if size <= logged)
        frontier = Frontier()
        leaves = store.leaves(model, 0, sizes[-1]) if sizes else []
        for size in sizes:
            frontier.extend(leaves[frontier.size:size])
            anchored = audit.heads[(model, size)]
            if frontier.root().hex() != anchored.root_hash:
                raise AnchorReceiptError(
                    f"equivocation: line {anchored.index + 1} anchors root {anchored.root_hash[:16]}... for the first "
                    f"{size} records of model {model!r}, but the store's records give {frontier.root().hex()[:16]}"
                    "...: the store's log was changed after it was anchored")
    if path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # opened for appending, nothing written
        except OSError as exc:
            raise AnchorUnavailable(f"cannot be written ({exc.strerror}): heads cannot be anchored") from exc
    parts = [f"{audit.count} entries, every link and signature holds, one head per model and size"]
    if tip is not None:
        parts.append(f"still holds entry {tip.index}, the newest this store anchored")
    if audit.torn_tail:
        parts.append("an incomplete last line (a writer stopped mid-line) is dropped by the next append")
    unanchored = store.pending_heads(LocalChainAnchor.backend, newest_only=True)
    if unanchored:
        parts.append(f"the newest head of {len(unanchored)} model(s) is not anchored here yet (the next flush "
                     "anchors it)")
    return "; ".join(parts)


def check_blockchain(store_dir: Path, database: str | None = None) -> list[Probe]:
    """Chain settings resolve and, when a chain is configured, the RPC, contract and account answer."""
    try:
        with open_store(database, root=store_dir) as store:
            saved = {k: v for k in ("rpc_url", "contract_address", "chain_id")
                     if (v := store.get_setting(k)) is not None}
        settings = ChainSettings.resolve(saved=saved)
    except PotError as exc:
        return [Probe("chain settings", False, str(exc))]
    if not settings.wants_chain:
        reason = ("FORCE_LOCAL_BLOCKCHAIN is set" if settings.force_local else
                  "BLOCKCHAIN_CLIENT_TYPE is local" if settings.client_type == "local" else "RPC_URL is not set")
        return [Probe("chain settings", False, f"no chain configured ({reason}); heads anchor to the local chain")]
    try:
        from pot.anchors.ethereum import probe
    except ImportError:
        return [Probe("chain client", False, "web3 is not installed: pip install 'pot-provenance[chain]'")]
    return [Probe(name, passed, detail) for name, passed, detail in probe(settings)]
