"""Bearer tokens for ``pot serve``, kept in the store's settings (key ``token:<id>``) as SHA-256 digests.

A token reads ``pot_<id>_<secret>``: the id (8 hex digits) finds the stored entry, the secret (32 random bytes,
URL-safe base64) is checked against its digest in constant time. Only :func:`create_token`'s caller ever sees the
secret; the store keeps its digest, the scope (a model-id prefix) and whether it may write. Revoking keeps the entry
(with the time of revocation), so an id is never reused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pot.errors import FormatError, StoreError, UsageError
from pot.log.records import format_timestamp
from pot.log.store import LogStore

_PREFIX = "token:"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the store knows of a token (never its secret)."""

    token_id: str
    scope: str  # model ids this token may touch start with it ("" for every model)
    write: bool
    created: str
    revoked: str | None

    def allows(self, model_id: str) -> bool:
        return self.revoked is None and model_id.startswith(self.scope)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.token_id, "scope": self.scope, "write": self.write, "created": self.created,
                "revoked": self.revoked}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _entry(info: TokenInfo, digest: str) -> str:
    return json.dumps({"sha256": digest, "scope": info.scope, "write": info.write, "created": info.created,
                       "revoked": info.revoked}, separators=(",", ":"))


def _parse(token_id: str, raw: str) -> tuple[TokenInfo, str]:
    try:
        value = json.loads(raw)
        info = TokenInfo(token_id, str(value["scope"]), bool(value["write"]), str(value["created"]),
                         None if value["revoked"] is None else str(value["revoked"]))
        return info, str(value["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"the stored entry of token {token_id} is malformed ({type(exc).__name__})") from None


def create_token(store: LogStore, scope: str, *, write: bool, now: datetime | None = None) -> tuple[str, TokenInfo]:
    """A new token for model ids starting with ``scope``; returns (the token, shown once; its stored info)."""
    if len(scope) > 256 or not scope.isprintable():
        raise UsageError("--scope must be at most 256 printable characters (a model-id prefix; '' for all)")
    created = format_timestamp(now or datetime.now(UTC))
    while True:
        token_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        info = TokenInfo(token_id, scope, write, created, None)
        digest = _digest(secret)
        # claim_setting is one step: of two tokens drawing one id, only one is stored; the other draws again
        if store.claim_setting(_PREFIX + token_id, _entry(info, digest)) == _entry(info, digest):
            return f"pot_{token_id}_{secret}", info


def list_tokens(store: LogStore) -> list[TokenInfo]:
    rows = store.read("SELECT key, value FROM settings WHERE key LIKE 'token:%' ORDER BY key")
    return [_parse(str(key)[len(_PREFIX):], str(value))[0] for key, value in rows]


def revoke_token(store: LogStore, token_id: str, *, now: datetime | None = None) -> TokenInfo:
    """Revoke token ``token_id`` (from then on it authenticates nothing); revoking twice keeps the first time."""
    def work() -> TokenInfo:
        raw = store.get_setting(_PREFIX + token_id)
        if raw is None:
            raise UsageError(f"no token with id {token_id!r} (`pot token list` shows them)")
        info, digest = _parse(token_id, raw)
        if info.revoked is None:
            info = TokenInfo(info.token_id, info.scope, info.write, info.created,
                             format_timestamp(now or datetime.now(UTC)))
            store.set_setting(_PREFIX + token_id, _entry(info, digest))
        return info
    return store.exclusive(work)


def authenticate(store: LogStore, token: str) -> TokenInfo:
    """The live token ``token`` names; FormatError when it is malformed, unknown, wrong or revoked (one message
    for all of them, so a caller learns nothing about which ids exist)."""
    refused = FormatError("invalid or revoked token")
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "pot" or len(parts[1]) != 8 or len(token) > 200:
        raise refused
    raw = store.get_setting(_PREFIX + parts[1])
    if raw is None:
        raise refused
    info, digest = _parse(parts[1], raw)
    if not hmac.compare_digest(_digest(parts[2]), digest) or info.revoked is not None:
        raise refused
    return info
