"""``pot test``: checks that the store, the signing key and the anchors work here, without writing records."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pot.anchors.localchain import LocalChain
from pot.config import ChainSettings, ProvenanceConfig
from pot.errors import PotError
from pot.log.canonical import DOMAIN_PROOF
from pot.log.keys import SigningKey, passphrase_from_env
from pot.log.store import LOCAL_CHAIN_NAME, Store


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    passed: bool
    detail: str


def check_local(store_dir: Path) -> list[Probe]:
    """Store opens and takes the write lock, the key unlocks and signs, the local chain verifies end to end."""
    results: list[Probe] = []
    try:
        store = Store(store_dir)
    except PotError as exc:
        return [Probe("store", False, str(exc))]
    models = store.models()
    results.append(Probe("store", True, f"{store.root}: {len(models)} model(s), "
                                        f"{sum(store.size(m) for m in models)} record(s)"))
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
            count = LocalChain(chain_path).verify(key.public)
            results.append(Probe("local chain", True, f"{chain_path}: {count} entries, every link and signature "
                                                      "holds"))
        except PotError as exc:
            results.append(Probe("local chain", False, str(exc)))
    store.close()
    return results


def check_blockchain(store_dir: Path) -> list[Probe]:
    """Chain settings resolve and, when a chain is configured, the RPC, contract and account answer."""
    try:
        with Store(store_dir) as store:
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
