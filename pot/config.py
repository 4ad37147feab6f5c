"""Configuration: the seed's ``ProvenanceConfig``, where the store lives, and the chain settings.

Precedence for every setting, highest first: an explicit argument (or ``client_config`` entry), the process
environment, a ``.env`` file in the working directory, the store's saved settings, the default.
Secrets (``PRIVATE_KEY``) are held in :class:`Secret`, whose repr and str never show the value. An RPC URL is
kept whole (web3 needs it) but shown only as scheme://host:port (:func:`endpoint_of`): hosted endpoints carry an
API key in the path or query, and some carry user:password@ in the netloc.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pot.errors import UsageError

SEED_DEFAULT_STORAGE = "./provenance_records.json"
DEFAULT_STORE = ".pot"
STORE_ENV = "POT_HOME"
KEY_FILE_ENV = "POT_KEY_FILE"
DATABASE_ENV = "POT_DATABASE_URL"
SERVER_URL_ENV = "POT_SERVER_URL"
SERVER_TOKEN_ENV = "POT_SERVER_TOKEN"
SPOOL_ENV = "POT_SPOOL_DIR"
SPOOL_FSYNC_ENV = "POT_SPOOL_FSYNC"
SPOOL_DIR_NAME = "spool"

# The seed's environment variables (shared/seeds/002, "Environment Variables").
CHAIN_ENV = ("RPC_URL", "PRIVATE_KEY", "CONTRACT_ADDRESS", "BLOCKCHAIN_CLIENT_TYPE", "GAS_PRICE_GWEI",
             "CONFIRMATION_BLOCKS", "FORCE_LOCAL_BLOCKCHAIN", "CHAIN_ID")


@dataclass(repr=False)
class ProvenanceConfig:
    """The seed's configuration, field for field, plus pot's own settings after them.

    Its repr shows ``client_config`` with the private key hidden and the RPC URL cut to scheme://host:port.
    """

    enabled: bool = False
    blockchain_enabled: bool = False
    local_storage_path: str = SEED_DEFAULT_STORAGE
    batch_size: int = 10
    auto_verify: bool = True
    fingerprint_checkpoints: bool = True
    record_challenges: bool = True
    client_config: dict[str, Any] | None = None
    # pot's additions
    store_dir: str | None = None
    """Store directory. Default: ``POT_HOME``, else ``local_storage_path`` if changed from the seed's default,
    else ``./.pot``."""
    key_file: str | None = None
    """Signing key file. Default: ``POT_KEY_FILE``, else ``signing-key.pem`` in the store."""
    database_url: str | None = None
    """A PostgreSQL store (``postgresql://user:password@host/db``) instead of SQLite in ``store_dir``. Default:
    ``POT_DATABASE_URL``, else none (SQLite). The store directory then keeps only the signing key (unless
    ``key_file`` / ``POT_KEY_FILE`` says otherwise) and the local chain file."""
    salt_records: bool = True
    """Give each record 16 random salt bytes, so disclosing one record alone reveals nothing of its neighbours."""
    step_block: int = 1000
    """``record_step`` calls buffered per ``steps`` record (see ProvenanceRecorder.record_step). A block's write
    costs about a millisecond whatever its size, so larger blocks cost a training step less; a crash can lose at
    most this many steps' metrics (blocks are also written before every checkpoint and validation)."""
    head_interval: float = 0.02
    """Seconds a batch's sign request waits for more records to join it (see pot.recorder)."""
    chain_interval: float = 10.0
    """Least seconds between two chain anchors of one model. The newest head waiting is sent then; the heads before
    it are covered by its anchor. ``flush()``, ``close()`` and ``wait_for_anchors()`` send at once. 0: a
    transaction for every head the chain can take."""
    anchor_timeout: float = 30.0
    """Seconds ``close()`` waits for outstanding chain anchors before leaving them in the pending queue, and
    ``generate_proof_of_training`` for the chain anchor of the model's newest head before making the proof without
    it (saying so in a log line)."""
    node_id: str | None = None
    """This recorder's node in the Lamport order of its logs. Default: ``POT_NODE_ID``, else ``rank-N`` under
    torch.distributed, else ``main``."""
    tsa_url: str | None = None
    """An RFC 3161 time-stamping authority to anchor every head with, besides the local chain. Default:
    ``POT_TSA_URL``, else ``.env``, else what ``pot init --tsa`` saved in the store; none: no TSA anchor."""
    tsa_cert: str | None = None
    """The TSA's CA certificate (PEM file) that its tokens must chain to. Default: ``POT_TSA_CERT``, as above."""
    fingerprint_challenges: int = 16
    fingerprint_input_shape: tuple[int, ...] | None = None
    server_url: str | None = None
    """A ``pot serve`` to record to instead of a local store (``http://host:port``, or ``https://``). Default:
    ``POT_SERVER_URL``, else none (a local store). Records are acknowledged once they are in the local spool and
    sent in the background (docs/SERVER.md, "Recording through the server")."""
    server_token: str | None = None
    """The bearer token (``pot token create --write``) that records to ``server_url``. Default:
    ``POT_SERVER_TOKEN``. Never shown: the repr hides it."""
    spool_dir: str | None = None
    """Where records wait for the server (a SQLite file, ``spool.db``). Default: ``POT_SPOOL_DIR``, else
    ``spool/`` in the store directory."""
    spool_fsync: bool | None = None
    """Whether each spooled record is fsync'd before ``record_*`` returns (SQLite ``synchronous=FULL``): then not
    even a power cut loses an acknowledged record, at the cost of one disk flush per record (milliseconds on many
    disks). False: as durable as the local store (``synchronous=NORMAL`` in WAL mode: a killed process loses
    nothing, a power cut may lose the last records). Default: ``POT_SPOOL_FSYNC`` (``0`` for False), else True."""

    def __post_init__(self) -> None:
        for name in ("batch_size", "step_block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if min(self.anchor_timeout, self.head_interval, self.chain_interval) < 0:
            raise UsageError("anchor_timeout, head_interval and chain_interval must be >= 0")

    def __repr__(self) -> str:
        shown = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "client_config" and value is not None:
                value = {key: _shown_setting(key, item) for key, item in value.items()}
            elif name == "server_token" and value is not None:
                value = "<hidden>"
            elif name == "database_url" and value is not None:
                from pot.log.store import shown_url

                value = shown_url(value)  # never the password
            shown.append(f"{name}={value!r}")
        return f"ProvenanceConfig({', '.join(shown)})"

    def resolve_store(self, environ: Mapping[str, str] | None = None) -> Path:
        env = os.environ if environ is None else environ
        if self.store_dir:
            return Path(self.store_dir)
        if env.get(STORE_ENV):
            return Path(env[STORE_ENV])
        if self.local_storage_path and self.local_storage_path != SEED_DEFAULT_STORAGE:
            return Path(self.local_storage_path)
        return Path(DEFAULT_STORE)

    def resolve_database(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The PostgreSQL URL of the store, or None for SQLite in :meth:`resolve_store`."""
        env = os.environ if environ is None else environ
        return self.database_url or env.get(DATABASE_ENV) or None

    def resolve_server(self, environ: Mapping[str, str] | None = None) -> tuple[str, str | None] | None:
        """The server to record to and its token, or None to record to a local store. A URL that is not
        http(s)://host is a UsageError (its text is not repeated: it may carry credentials)."""
        env = os.environ if environ is None else environ
        url = self.server_url or env.get(SERVER_URL_ENV) or None
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{SERVER_URL_ENV} / server_url must be http://host[:port] or https://host[:port]")
        try:
            parts.port  # noqa: B018 - raises for a port that is no number
        except ValueError:
            raise UsageError(f"{SERVER_URL_ENV} / server_url has a port that is not a number") from None
        return url.rstrip("/"), self.server_token or env.get(SERVER_TOKEN_ENV) or None

    def resolve_spool(self, environ: Mapping[str, str] | None = None) -> Path:
        """The spool directory of a recorder that records through a server."""
        env = os.environ if environ is None else environ
        if self.spool_dir:
            return Path(self.spool_dir)
        if env.get(SPOOL_ENV):
            return Path(env[SPOOL_ENV])
        return self.resolve_store(env) / SPOOL_DIR_NAME

    def resolve_spool_fsync(self, environ: Mapping[str, str] | None = None) -> bool:
        env = os.environ if environ is None else environ
        if self.spool_fsync is not None:
            return self.spool_fsync
        value = env.get(SPOOL_FSYNC_ENV)
        return True if value is None or value == "" else _truthy(value, SPOOL_FSYNC_ENV)

    def resolve_key_file(self, store: Path, environ: Mapping[str, str] | None = None) -> Path:
        env = os.environ if environ is None else environ
        if self.key_file:
            return Path(self.key_file)
        if env.get(KEY_FILE_ENV):
            return Path(env[KEY_FILE_ENV])
        from pot.log.store import KEY_NAME
        return store / KEY_NAME


class Secret:
    """A secret string that never shows itself in a repr, a str, a log line or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _checked_rpc_url(value: Any) -> str | None:
    """An RPC URL pot can use: http(s) or ws(s), with a host. A mistyped one (``htp:/localhost``) is named by what
    is wrong with it, never echoed whole (hosted URLs carry API keys)."""
    if value is None:
        return None
    url = str(value).strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises for a port that is no number
    except ValueError:
        raise UsageError("RPC_URL is not a URL (its host or port cannot be read); expected e.g. "
                         "http://127.0.0.1:8545") from None
    if parts.scheme.lower() not in ("http", "https", "ws", "wss"):
        shown = parts.scheme if parts.scheme.isalnum() and len(parts.scheme) <= 10 else "?"
        raise UsageError(f"RPC_URL must start with http://, https://, ws:// or wss:// (it starts with {shown!r}); "
                         "expected e.g. http://127.0.0.1:8545")
    if not host:
        raise UsageError(f"RPC_URL has no host after {parts.scheme}:// (a missing slash?); expected e.g. "
                         "http://127.0.0.1:8545")
    return url


def endpoint_of(url: str) -> str:
    """scheme://host:port of an RPC URL: the only part of it pot ever shows (see the module docstring)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is no number, an unbalanced [ ...
        return "the RPC endpoint"
    if not parts.scheme or not host:
        return "the RPC endpoint"
    if ":" in host:  # IPv6: urlsplit drops the brackets
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def secret_url_parts(url: str) -> list[str]:
    """The parts of an RPC URL beyond scheme://host:port (whole URL, user:password, path, query, fragment), longest
    first, for scrubbing them from text that a library outside pot wrote (its exception messages, its log lines)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url] if url else []
    shown = endpoint_of(url)
    # Scrubbing what is shown anyway (or a lone "/") would only garble the text.
    public = {"", "/", shown, shown.partition("://")[2], parts.hostname or ""}
    candidates = {url, parts.netloc, parts.path + ("?" + parts.query if parts.query else ""), parts.path,
                  parts.query, parts.fragment, parts.username or "", parts.password or ""}
    return sorted((c for c in candidates if c not in public and len(c) > 1), key=len, reverse=True)


def _shown_setting(name: str, value: Any) -> Any:
    """A chain setting as a repr may show it."""
    lowered = name.lower()
    if lowered == "private_key":
        return value if isinstance(value, Secret) else Secret(str(value))
    if lowered == "rpc_url" and isinstance(value, str):
        return endpoint_of(value)
    return value


def chain_variables_set(overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None,
                        dotenv: Path | None = Path(".env")) -> list[str]:
    """Which of RPC_URL and PRIVATE_KEY are set (in ``overrides``, the environment or ``.env``), unless
    FORCE_LOCAL_BLOCKCHAIN or BLOCKCHAIN_CLIENT_TYPE=local says local anchoring is meant. Names only, no values."""
    sources: list[Mapping[str, Any]] = [{k.upper(): v for k, v in (overrides or {}).items()},
                                         os.environ if environ is None else environ]
    if dotenv is not None:
        sources.append(read_dotenv(dotenv))

    def get(name: str) -> Any:
        return next((v for source in sources if (v := source.get(name)) not in (None, "")), None)

    force = get("FORCE_LOCAL_BLOCKCHAIN")
    if str(get("BLOCKCHAIN_CLIENT_TYPE") or "").lower() == "local" or \
            (force is not None and str(force).strip().lower() in ("1", "true", "yes", "on")):
        return []
    return [name for name in ("RPC_URL", "PRIVATE_KEY") if get(name) is not None]


def read_dotenv(path: Path) -> dict[str, str]:
    """A minimal ``.env`` reader: ``KEY=value`` lines, optional ``export``, quotes, ``#`` comments."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"{path}:{number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif value.startswith("#"):
            value = ""  # KEY=   # a comment: an empty value
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


# EIP-2294: the largest chain id that EIP-155 signatures can carry on every client (floor(MAX_UINT64 / 2) - 36).
MAX_CHAIN_ID = 2**63 - 1 - 36


def _number(value: Any, name: str, kind: type[int] | type[float]) -> Any:
    # The value is not echoed: a key pasted into the wrong variable would otherwise end up in the message.
    if isinstance(value, bool):
        raise UsageError(f"chain settings: {name} must be a number")
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"chain settings: {name} must be {'an integer' if kind is int else 'a number'}") from None


def _truthy(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True, repr=False)
class ChainSettings:
    """Everything the Ethereum anchor needs, resolved from arguments, environment, .env and the store.

    ``rpc_url`` holds the whole URL; the repr (and str) shows scheme://host:port and hides the private key.
    """

    rpc_url: str | None = None
    private_key: Secret | None = field(default=None, repr=False)
    contract_address: str | None = None
    client_type: str = "auto"  # "auto", "web3", "local"
    gas_price_gwei: float | None = None
    confirmation_blocks: int = 1
    force_local: bool = False
    chain_id: int | None = None

    def __repr__(self) -> str:
        shown = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            shown.append(f"{name}={_shown_setting(name, value) if value is not None else None!r}")
        return f"ChainSettings({', '.join(shown)})"

    @property
    def wants_chain(self) -> bool:
        """True when these settings ask for chain anchoring at all."""
        return not self.force_local and self.client_type != "local" and bool(self.rpc_url)

    @classmethod
    def resolve(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        dotenv: Path | None = Path(".env"),
        saved: Mapping[str, str] | None = None,
    ) -> ChainSettings:
        """Merge the sources (see module docstring). ``overrides`` uses ``client_config`` keys, lower case."""
        sources: list[Mapping[str, Any]] = []
        if overrides:
            sources.append({k.upper(): v for k, v in overrides.items() if v is not None})
        sources.append(os.environ if environ is None else environ)
        if dotenv is not None:
            sources.append(read_dotenv(dotenv))
        if saved:
            sources.append({k.upper(): v for k, v in saved.items()})

        def get(name: str) -> Any:
            for source in sources:
                value = source.get(name)
                if value not in (None, ""):
                    return value
            return None

        client_type = str(get("BLOCKCHAIN_CLIENT_TYPE") or "auto").lower()
        if client_type not in ("auto", "web3", "local"):
            raise UsageError(f"BLOCKCHAIN_CLIENT_TYPE must be auto, web3 or local, got {client_type!r}")
        gas = get("GAS_PRICE_GWEI")
        confirmations = get("CONFIRMATION_BLOCKS")
        chain_id = get("CHAIN_ID")
        key = get("PRIVATE_KEY")
        gas_value = None if gas is None else _number(gas, "GAS_PRICE_GWEI", float)
        confirmations_value = 1 if confirmations is None else _number(confirmations, "CONFIRMATION_BLOCKS", int)
        chain_id_value = None if chain_id is None else _number(chain_id, "CHAIN_ID", int)
        if gas_value is not None and not 0 < gas_value < float("inf"):
            raise UsageError("GAS_PRICE_GWEI must be a positive number")
        if confirmations_value < 0:
            raise UsageError("CONFIRMATION_BLOCKS must be >= 0")
        if chain_id_value is not None and not 0 < chain_id_value <= MAX_CHAIN_ID:
            raise UsageError(f"CHAIN_ID must be between 1 and {MAX_CHAIN_ID}")
        force = get("FORCE_LOCAL_BLOCKCHAIN")
        return cls(
            rpc_url=_checked_rpc_url(get("RPC_URL")),
            private_key=key if isinstance(key, Secret) else (Secret(str(key)) if key else None),
            contract_address=get("CONTRACT_ADDRESS"),
            client_type=client_type,
            gas_price_gwei=gas_value,
            confirmation_blocks=confirmations_value,
            force_local=False if force is None else (force if isinstance(force, bool) else
                                                      _truthy(str(force), "FORCE_LOCAL_BLOCKCHAIN")),
            chain_id=chain_id_value,
        )


TSA_ENV = ("POT_TSA_URL", "POT_TSA_CERT")


@dataclass(frozen=True)
class TsaSettings:
    """Where the TSA anchor asks for tokens (``url``) and the certificate file its tokens must chain to (``cert``)."""

    url: str | None = None
    cert: str | None = None

    @classmethod
    def resolve(cls, config: ProvenanceConfig | None = None, *, environ: Mapping[str, str] | None = None,
                dotenv: Path | None = Path(".env"), saved: Mapping[str, str] | None = None) -> TsaSettings:
        """The config's fields, the environment, ``.env``, the store's saved ``tsa_url``/``tsa_cert``: the first
        source that sets a value wins, per value. A URL must be http(s) with a host."""
        sources: list[Mapping[str, Any]] = []
        if config is not None:
            sources.append({"POT_TSA_URL": config.tsa_url, "POT_TSA_CERT": config.tsa_cert})
        sources.append(os.environ if environ is None else environ)
        if dotenv is not None:
            sources.append(read_dotenv(dotenv))
        if saved:
            sources.append({"POT_" + k.upper(): v for k, v in saved.items()})

        def get(name: str) -> str | None:
            return next((str(v) for source in sources if (v := source.get(name)) not in (None, "")), None)

        url = get("POT_TSA_URL")
        if url is not None:
            try:
                parts = urlsplit(url)
                host = parts.hostname
            except ValueError:
                host = None
                parts = urlsplit("")
            if parts.scheme.lower() not in ("http", "https") or not host:
                raise UsageError("POT_TSA_URL must be an http:// or https:// URL with a host, e.g. "
                                 "http://127.0.0.1:3161/tsa")
        return cls(url=url, cert=get("POT_TSA_CERT"))
