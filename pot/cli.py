"""The ``pot`` command. Thin: each verb parses its flags, calls the library, renders the result.

Also reachable as ``python scripts/provenance_cli.py VERB`` (the seed toolkit's entry point).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pot import __version__
from pot._internal import paths
from pot.errors import (
    AnchorError,
    ChainUnreachable,
    FormatError,
    KeyringError,
    PotError,
    StoreError,
    UsageError,
    VerificationError,
)

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in pot

EXIT_CODES_HELP = """\
exit codes:
  0  success (for verify: every check passed)
  1  verification failed: the proof, a signature, a root, a link or an anchor does not check out, or the file
     is no valid pot proof (malformed JSON, an unknown version, oversize); also a promotion refused by its
     gate, a run that is not reproducible, a model directory holding a file the proof did not record
  2  bad usage or bad input: unknown flag, malformed JSON argument, negative epoch, unknown model id, a proof
     file that is missing or cannot be read; with --server, a request the server refuses as bad (400, 404, 413,
     422: an unknown model, run or lineage id, say)
  3  the environment refused: store missing, read-only or corrupt; key missing, locked or wrong passphrase;
     chain unreachable, answering nonsense, or its client not installed; the file system refused an operation;
     with --server, a server that cannot be reached, refuses the token (401, 403), is over its rate (429), fails
     (5xx) or answers something that is not pot's JSON
 70  a bug in pot (set POT_DEBUG=1 to see the traceback, and please report it)
"""

INIT_HELP = """\
the signing key:
  A new key is encrypted with POT_KEY_PASSPHRASE when it is set. init never rewrites an existing key: if the
  store already has an unencrypted key, POT_KEY_PASSPHRASE does not encrypt it; init says so on stderr and the
  key keeps working as it is. To encrypt it yourself (same key, so the store's logs stay one signer's):
    openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out KEY.new && chmod 600 KEY.new && mv KEY.new KEY
  Running init again is safe: it never replaces a key or a record, and it finishes what an interrupted init
  left (a key file cut short, while nothing is signed yet, is renamed aside and a new key made).
"""

SIGN_MODEL_HELP = """\
a key, signing, and what a third party runs (docs/MODEL_SIGNING.md):
  pot key ecdsa-new --out KEY.pem              (or: openssl ecparam -genkey -name prime256v1 -noout -out KEY.pem
                                                 && chmod 600 KEY.pem && openssl ec -in KEY.pem -pubout -out KEY.pub)
  pot sign-model DIR --key KEY.pem --proof PROOF.json
  model_signing verify key DIR --signature DIR/model.sig --public_key KEY.pub
  pot verify --proof PROOF.json --model-dir DIR --model-key KEY.pub --trusted-key POT_PUBLIC_KEY
"""

SERVE_HELP = """\
the server (docs/SERVER.md):
  Opens the store (--store, or PostgreSQL with --database / POT_DATABASE_URL) and the organisation's signing key
  (POT_KEY_FILE, else signing-key.pem in the store directory; made on first use, like `pot init`), then serves
  the REST API documented at /openapi.json (/docs in a browser): /v1/models, /v1/models/{id}/log, .../heads,
  .../proof, .../history, POST .../records (a batch, idempotent per key), POST .../promote and .../rollback,
  /v1/runs, /v1/runs/{id}, .../config, .../compare/{other}, /v1/lineage/{id}, POST /v1/verify. The read verbs
  ask it with `pot --server URL VERB`.
  Writes need a write token whose scope covers the model id (`pot token create --scope PREFIX --write`); reads
  are public unless --private. Several workers, or several machines behind a proxy, share one PostgreSQL
  database: appends to one log are serialised by the database. TLS belongs to a reverse proxy in front.
  --anchor-interval S anchors, every S seconds, the newest heads of all changed models with one chain transaction
  (RPC_URL, CONTRACT_ADDRESS, PRIVATE_KEY as for the recorder; the local chain file without them); one process
  anchors at a time, whatever the number of workers.
  The same process serves the web UI at /ui/ (runs, each run and model log, the lineage graph, proof downloads,
  and a page that verifies a dropped proof file).
"""

EXIT_CODES_SHORT = ("exit codes: 0 ok, 1 verification failed, 2 bad usage or input, 3 the environment refused, "
                    "70 a bug\n(`pot --help` says more)")

log = logging.getLogger("pot")
MAX_JSON_ARGUMENT = 1 << 20  # a metrics or result object on the command line; a larger one belongs in a file


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's default prints the whole usage; one line with the fix is kinder.
        self.exit(EXIT_USAGE, f"pot: error: {message} (see `{self.prog} --help`)\n")


def _common() -> _Parser:
    """Flags every verb accepts, before or after the verb."""
    common = _Parser(add_help=False)
    common.add_argument("--store", metavar="DIR", default=argparse.SUPPRESS,
                        help="store directory (default: $POT_HOME or ./.pot); with --database it keeps only the "
                             "signing key and the local chain")
    common.add_argument("--database", metavar="URL", default=argparse.SUPPRESS,
                        help="keep the store in PostgreSQL: postgresql://user:password@host:5432/db (default: "
                             "$POT_DATABASE_URL; unset: SQLite in the store directory)")
    common.add_argument("--server", metavar="URL", default=argparse.SUPPRESS,
                        help="ask a pot serve at URL instead of a local store (the read verbs: proof, history, "
                             "runs list|show|export-config|compare, lineage); a token, when its reads need one, "
                             "from $POT_SERVER_TOKEN")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(prog="pot", description="Blockchain-anchored proof of training.", parents=[common],
                     epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pot {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        return verbs.add_parser(name, help=help_text, description=help_text, parents=[common],
                                epilog=EXIT_CODES_SHORT, formatter_class=argparse.RawDescriptionHelpFormatter)

    p = verb("init", "create the store and its signing key, or finish a store whose creation was interrupted")
    p.epilog = INIT_HELP + "\n" + EXIT_CODES_SHORT
    p.add_argument("--blockchain", action="store_true", help="anchor tree heads on a chain (see .env.example)")
    p.add_argument("--fingerprint", action="store_true", help="fingerprint checkpoints by default")
    p.add_argument("--tsa", metavar="URL", help="also anchor every tree head with this RFC 3161 time-stamping "
                   "authority (saved in the store; POT_TSA_URL overrides it)")
    p.add_argument("--tsa-cert", metavar="PEM", help="the TSA's root CA certificate its tokens must chain to (with "
                   "--tsa; POT_TSA_CERT overrides it)")

    p = verb("checkpoint", "record a training checkpoint")
    p.add_argument("--model-hash", required=True, metavar="H",
                   help="the weights' digest (`pot hash weights.safetensors` prints it) or any name for them")
    p.add_argument("--epoch", required=True, type=int, metavar="N", help="the epoch just finished (0 or more)")
    p.add_argument("--metrics", required=True, metavar="JSON", help='e.g. \'{"loss": 0.1}\'')
    p.add_argument("--model-id", required=True, metavar="ID", help="the model's log to record into")
    p.add_argument("--step", type=int, metavar="N", help="global training step")
    p.add_argument("--checkpoint-file", metavar="FILE", help="record this file's SHA-256 with the checkpoint")
    p.add_argument("--fingerprint-hash", metavar="H", help="a behavioural fingerprint computed elsewhere")

    p = verb("validate", "record a validation result")
    p.add_argument("--model-hash", required=True, metavar="H", help="the digest of the weights that were validated")
    p.add_argument("--validator", required=True, metavar="V", help="who or what validated (a name)")
    p.add_argument("--result", required=True, metavar="JSON", help='e.g. \'{"accuracy": 0.95}\'')
    p.add_argument("--model-id", required=True, metavar="ID", help="the model's log to record into")
    p.add_argument("--confidence", type=float, metavar="C", help="confidence in [0, 1]")
    p.add_argument("--challenge-hash", metavar="H", help="a digest of the challenge set or configuration used")

    p = verb("proof", "write the proof of training of a model")
    p.add_argument("--model-id", required=True, metavar="ID", help="the model whose log to prove")
    p.add_argument("--output", required=True, metavar="FILE", help="where to write the proof (JSON)")
    p.add_argument("--record", action="append", metavar="ID",
                   help="disclose only this record (repeatable): a partial proof with inclusion proofs")

    p = verb("verify", "verify a proof offline (and, with --rpc, its anchors on chain)")
    _proof_arguments(p)
    _verifier_arguments(p)
    p.add_argument("--checkpoint", metavar="FILE", help="tell whether FILE is a checkpoint file the proof recorded")
    p.add_argument("--model-dir", metavar="DIR",
                   help="match every file of DIR (as OpenSSF model signing hashes them) against the proof's records")
    p.add_argument("--model-key", metavar="KEY.pub",
                   help="with --model-dir: also check DIR's model signature (model.sig) with this ECDSA public key")
    p.add_argument("--model-signature", metavar="FILE", help="with --model-dir: the signature (default DIR/model.sig)")
    p.add_argument("--parent", action="append", metavar="FILE", default=[],
                   help="a parent model's proof to follow (repeatable): fine-tuned from, and so on")
    p.add_argument("--now", metavar="TIMESTAMP",
                   help="verify as of this moment, YYYY-MM-DDTHH:MM:SS.ffffffZ (no date in the proof may be more than "
                        "a day past it; default: this machine's clock)")

    p = verb("show", "what a proof says, for a person: runs, metrics per epoch, validations, promotions, anchors "
                     "(verified first: a proof that fails is shown as its failure, exit 1)")
    _proof_arguments(p)
    _verifier_arguments(p)
    p.add_argument("--now", metavar="TIMESTAMP",
                   help="verify as of this moment, YYYY-MM-DDTHH:MM:SS.ffffffZ (default: this machine's clock)")

    p = verb("attest", "an in-toto attestation of a proof (a Statement v1 in a DSSE envelope, signed with the "
                       "store's key; docs/ATTESTATIONS.md); the proof is verified first")
    p.add_argument("--model-id", metavar="ID", help="make the model's proof now, as `pot proof` does, and attest it")
    p.add_argument("--proof", metavar="FILE", help="attest this proof file instead (signed by this store's key)")
    p.add_argument("--output", required=True, metavar="FILE",
                   help="where to write the envelope of the pot predicate (the proof's digest, head and anchors)")
    p.add_argument("--slsa", metavar="FILE", help="also write SLSA Provenance v1 of the final model's run, in its "
                                                  "own envelope")
    p.add_argument("--proof-output", metavar="FILE",
                   help="with --model-id: where to write the proof attested (default: beside OUTPUT, *.proof.json)")

    p = verb("verify-attestation", "check an attestation from pot attest: the DSSE signature, the in-toto statement "
                                   "and, given the proof, that it renders that proof")
    p.add_argument("attestation", metavar="FILE", help="the envelope (JSON) pot attest wrote")
    p.add_argument("--proof", metavar="FILE", help="the proof it claims to render: verified, then compared byte for "
                                                   "byte with a fresh rendering")
    p.add_argument("--trusted-key", metavar="KEY",
                   help="the signer's public key (hex, PEM, or a file); without it only self-consistency is shown")
    p.add_argument("--now", metavar="TIMESTAMP",
                   help="verify the proof as of this moment, YYYY-MM-DDTHH:MM:SS.ffffffZ (default: this machine's "
                        "clock)")

    p = verb("replay", "re-execute recorded training segments and compare the end weights with the proof's "
                       "(docs/REPLAY.md; needs torch)")
    _proof_arguments(p)
    p.add_argument("--checkpoints", required=True, metavar="DIR", help="the directory of the run's checkpoint files")
    p.add_argument("--entry", required=True, metavar="FILE.py:FUNC",
                   help="the training script's replay entry point (FILE.py:FUNCTION or MODULE:FUNCTION)")
    p.add_argument("--segments", type=int, metavar="K", help="how many segments: the half with the largest weight "
                   "change, the rest at random (default: all)")
    p.add_argument("--segment", type=int, action="append", default=[], metavar="N",
                   help="replay segment N (repeatable) instead of choosing")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the random choice (default: a fresh one, printed)")
    p.add_argument("--tolerance", type=float, default=0.0, metavar="T", help="accept end weights within relative "
                   "L2 distance T (default 0: bit for bit)")
    p.add_argument("--trusted-key", metavar="KEY", help="the signer's public key (hex, PEM, or a file)")
    p.add_argument("--sign-with", metavar="KEYFILE", help="sign the result with this Ed25519 key (yours) ...")
    p.add_argument("--attestation", metavar="FILE", help="... and write the signed attestation here")

    p = verb("history", "show the recorded history of a model")
    p.add_argument("--model-id", metavar="ID", help="omit to list the store's models")
    p.add_argument("--plot", metavar="FILE.png", help="also plot its metrics over epochs and steps (needs matplotlib)")

    p = verb("test", "check the store, the key and the local chain (and the blockchain client)")
    p.add_argument("--blockchain", action="store_true",
                   help="also check the chain settings, RPC, contract and balance; on a development chain (chain id "
                        "31337) this sends one real anchor transaction of a random root, paid by PRIVATE_KEY")

    p = verb("hash", "digest of a checkpoint file, a .safetensors file (its weights) or a directory of shards")
    p.add_argument("path", metavar="PATH", help="a file, a .safetensors file, or a directory (of shards)")
    p.add_argument("--manifest", action="store_true", help="also list every tensor's or file's digest")

    p = verb("key", "show the signing key")
    key_verbs = p.add_subparsers(dest="key_verb", metavar="ACTION", parser_class=_Parser, required=True)
    key_verbs.add_parser("public", help="print the public key, for others to pin with --trusted-key",
                         parents=[common])
    ecdsa = key_verbs.add_parser("ecdsa-new", parents=[common],
                                 help="make an ECDSA P-256 key for `pot sign-model` (KEY.pem, mode 0600, and its "
                                      "public half KEY.pub; encrypted with $POT_OMS_KEY_PASSPHRASE when set)")
    ecdsa.add_argument("--out", required=True, metavar="KEY.pem", help="the private key file to create")

    p = verb("sign-model", "sign a model directory in the OpenSSF model signing (OMS) format, which `model_signing "
                           "verify key` checks; with --proof the pot proof is signed with it")
    p.epilog = SIGN_MODEL_HELP + "\n" + EXIT_CODES_SHORT
    p.add_argument("path", metavar="DIR", help="the model directory")
    p.add_argument("--key", required=True, metavar="KEY.pem",
                   help="ECDSA P-256 private key, PEM (`pot key ecdsa-new` makes one); passphrase from "
                        "$POT_OMS_KEY_PASSPHRASE")
    p.add_argument("--proof", metavar="FILE", help="the model's pot proof: written into DIR as model.pot.json (unless "
                                                    "it is there already) and signed with it; every other file must be "
                                                    "one the proof recorded")
    p.add_argument("--attestation", metavar="FILE",
                   help="the proof's in-toto attestation (`pot attest`): checked against --proof, written into DIR as "
                        "model.pot.intoto.json (unless it is there already) and signed with it")
    p.add_argument("--signature", metavar="FILE", help="where to write the signature (default DIR/model.sig)")

    p = verb("contract", "the ProvenanceRegistry contract on a chain")
    contract_verbs = p.add_subparsers(dest="contract_verb", metavar="ACTION", parser_class=_Parser, required=True)
    deploy = contract_verbs.add_parser(
        "deploy", parents=[common], help="deploy the committed contract build (RPC_URL and PRIVATE_KEY from the "
        "environment or .env) and save its address in the store")
    deploy.add_argument("--rpc-url", metavar="URL", help="overrides RPC_URL")

    p = verb("anchor", "anchor on the chain (and with the TSA, when one is configured) every head that no such "
                       "anchor covers yet (heads recorded while the chain or the TSA was away)")
    p.add_argument("--pending", action="store_true",
                   help="what `pot anchor` does (kept for scripts that say it; it is the only mode)")
    p.add_argument("--model-id", metavar="ID", help="only this model's heads")
    p.add_argument("--rpc-url", metavar="URL", help="overrides RPC_URL")

    p = verb("chain", "a record checked by a contract on chain: the ProvenanceRegistry's checkRecord view")
    chain_verbs = p.add_subparsers(dest="chain_verb", metavar="ACTION", parser_class=_Parser, required=True)
    for name, help_text in (
            ("check-record", "ask the chain (an eth_call, nothing is sent) whether a record of the proof is in the "
                             "log whose root its Ethereum receipt's account anchored; prints the anchoring block"),
            ("calldata", "print the checkRecord call for a record (contract, function, arguments, raw data) for "
                         "cast or any other tool")):
        action = chain_verbs.add_parser(name, parents=[common], help=help_text, description=help_text,
                                        epilog=EXIT_CODES_SHORT)
        _proof_arguments(action)
        which = action.add_mutually_exclusive_group(required=True)
        which.add_argument("--record", metavar="RECORD_ID",
                           help="the record's id in the proof (or 8 or more of its first hex digits)")
        which.add_argument("--seq", type=int, metavar="N",
                           help="the record at this position of the log (`pot show` lists seq numbers)")
        action.add_argument("--leaf-only", action="store_true",
                            help="send the leaf hash instead of the record's bytes (checkLeaf: membership only)")
        if name == "check-record":
            action.add_argument("--rpc", required=True, metavar="URL", help="an RPC endpoint of the receipt's chain")

    p = verb("runs", "the run registry: every run, its configuration, environment and lineage")
    run_verbs = p.add_subparsers(dest="runs_verb", metavar="ACTION", parser_class=_Parser, required=True)
    listing = run_verbs.add_parser("list", parents=[common], help="the newest runs first")
    listing.add_argument("--kind", metavar="K", help="only runs of this kind (train, eval ...)")
    listing.add_argument("--status", metavar="S", choices=("running", "completed", "failed"),
                         help="only runs in this state: running, completed or failed")
    listing.add_argument("-n", type=int, default=20, metavar="N", help="how many (default 20)")
    show = run_verbs.add_parser("show", parents=[common], help="one run in full")
    show.add_argument("run_id", metavar="ID", help="a run id (pot runs list shows them)")
    export = run_verbs.add_parser("export-config", parents=[common], help="write what it takes to run it again")
    export.add_argument("run_id", metavar="ID", help="a run id (pot runs list shows them)")
    export.add_argument("--out", required=True, metavar="FILE", help="where to write the configuration (JSON)")
    run_verbs.add_parser("stats", parents=[common], help="counts and durations by kind and status")
    compare_help = ("two runs side by side: configuration, environment and git differences, metrics per epoch "
                    "and final values (the runs may train different models)")
    compare = run_verbs.add_parser("compare", parents=[common], help=compare_help, description=compare_help)
    compare.add_argument("run_a", metavar="A", help="a run id (pot runs list); differences read from A to B")
    compare.add_argument("run_b", metavar="B", help="another run id")
    reproducible = run_verbs.add_parser("reproducible", parents=[common],
                                        help="whether every input and parent proof is present and verifies")
    reproducible.add_argument("run_id", metavar="ID", help="a run id (pot runs list shows them)")
    reproducible.add_argument("--parent", action="append", metavar="FILE", default=[],
                              help="a parent model's proof file (repeatable)")

    p = verb("lineage", "ancestors and descendants of a run, model, dataset or artifact")
    p.add_argument("node_id", metavar="ID", help="a run, model, dataset or artifact id")
    p.add_argument("--dot", action="store_true", help="Graphviz DOT output")

    p = verb("promote", "promote a model to a stage if its latest validation passes a gate (exit 1 when refused)")
    p.add_argument("--model-id", required=True, metavar="ID", help="the model to promote")
    p.add_argument("--stage", required=True, metavar="STAGE", help="e.g. staging, production")
    p.add_argument("--gate", required=True, metavar="GATE",
                   help='a gate as JSON or a file holding it: {"thresholds": {"accuracy": {">=": 0.9}}} or '
                        '{"weights": {"accuracy": 0.7, "f1": 0.3}, "min_score": 0.85}')
    p.add_argument("--validator", metavar="V", help="use the latest validation by this validator")

    p = verb("rollback", "record that a stage went back to an earlier promoted model")
    p.add_argument("--model-id", required=True, metavar="ID", help="the model whose stage rolls back")
    p.add_argument("--stage", required=True, metavar="STAGE", help="the stage that rolls back")
    p.add_argument("--to", required=True, metavar="MODEL_HASH", help="a model hash promoted to that stage before")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")

    p = verb("serve", "run the team log server: a REST API over the store, signing heads with the organisation's key")
    p.epilog = SERVE_HELP + "\n" + EXIT_CODES_SHORT
    p.add_argument("--host", default="127.0.0.1", metavar="H", help="address to listen on (default 127.0.0.1; "
                   "put a TLS-terminating reverse proxy in front for anything else)")
    p.add_argument("--port", type=int, default=8470, metavar="P", help="port to listen on (default 8470)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="server processes (default 1; more need --database: SQLite serves one machine)")
    p.add_argument("--private", action="store_true", help="reads need a token too (default: reads are public)")
    p.add_argument("--max-body", type=int, default=8 << 20, metavar="BYTES",
                   help="largest request body accepted (default 8 MiB; larger: 413)")
    p.add_argument("--rate", type=float, default=20.0, metavar="R",
                   help="requests per second per token (or per address without one), sustained (default 20; "
                        "over it: 429)")
    p.add_argument("--burst", type=int, default=100, metavar="N",
                   help="requests a caller may make at once before --rate applies (default 100)")
    p.add_argument("--anchor-interval", type=float, default=None, metavar="SECONDS",
                   help="every SECONDS, anchor the newest heads of every changed model in one chain transaction "
                        "(RPC_URL, CONTRACT_ADDRESS, PRIVATE_KEY), or in the local chain file without a chain "
                        "(default: no anchoring; docs/SERVER.md, 'Anchoring')")

    p = verb("token", "bearer tokens for `pot serve` (kept hashed in the store)")
    token_verbs = p.add_subparsers(dest="token_verb", metavar="ACTION", parser_class=_Parser, required=True)
    create = token_verbs.add_parser("create", parents=[common], help="make a token and print it, once")
    create.add_argument("--scope", required=True, metavar="PREFIX",
                        help="the model ids the token covers start with PREFIX ('' for every model)")
    create.add_argument("--write", action="store_true", help="the token may append records (default: read only)")
    revoke = token_verbs.add_parser("revoke", parents=[common], help="revoke a token: it authenticates nothing after")
    revoke.add_argument("token_id", metavar="ID", help="the token's id (`pot token list` shows them)")
    token_verbs.add_parser("list", parents=[common], help="every token's id, scope, rights and state (no secrets)")

    return parser


def _verifier_arguments(p: argparse.ArgumentParser) -> None:
    """What `pot verify` and `pot show` ask the verifier to check beyond the proof itself (_verification_options)."""
    p.add_argument("--trusted-key", metavar="KEY",
                   help="the signer's public key (hex, PEM, or a file); without it only self-consistency is shown")
    p.add_argument("--local-chain", metavar="FILE", help="also check the local chain file holds each local anchor")
    p.add_argument("--rpc", metavar="URL", help="check each chain anchor against this RPC endpoint")
    p.add_argument("--tsa-cert", action="append", metavar="PEM", default=None,
                   help="check each TSA token against this root certificate, which you trust (repeatable); "
                        "without it a TSA time is the signer's word")


def _proof_arguments(parser: argparse.ArgumentParser) -> None:
    """The proof file, as ``FILE`` or ``--proof FILE`` (the seed's form); :func:`_proof_path` reads it."""
    parser.add_argument("proof_file", nargs="?", metavar="FILE", help="the proof file (or --proof FILE)")
    parser.add_argument("--proof", metavar="FILE", help="the proof file (the same as FILE)")


def _proof_path(args: argparse.Namespace) -> str:
    if args.proof_file is not None and args.proof is not None:
        raise UsageError("give the proof file once: as FILE or as --proof FILE, not both")
    path: str | None = args.proof if args.proof is not None else args.proof_file
    if path is None:
        raise UsageError(f"which proof? pot {args.verb} FILE (or --proof FILE)")
    return path


_handlers: dict[str, Callable[[argparse.Namespace], int]] = {}


def handler(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        _handlers[name] = fn
        return fn
    return register


# --- helpers ---------------------------------------------------------------------------------------------------


def _json_arg(text: str, flag: str) -> Any:
    """A JSON object argument, read as strictly as a proof (no duplicate keys, no NaN, no number a double cannot
    hold); values are checked again, like any recorded value, when the record is made."""
    from pot._internal import strictjson

    try:
        value = strictjson.loads(text, flag, max_bytes=MAX_JSON_ARGUMENT)
    except FormatError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} must be a JSON object such as '{{\"loss\": 0.1}}'")
    return value


def _store_dir(args: argparse.Namespace) -> Path:
    from pot.config import ProvenanceConfig

    store = getattr(args, "store", None)
    return Path(store) if store else ProvenanceConfig().resolve_store()


def _protected(args: argparse.Namespace) -> dict[str, list[Path]]:
    """What an output file must never replace: the store directory and the signing key (with its .pub copy)."""
    from pot.config import ProvenanceConfig

    store = _store_dir(args)
    return {"stores": [store], "key_files": [ProvenanceConfig().resolve_key_file(store)]}


def _output(args: argparse.Namespace, value: str) -> Path:
    """An output file's path, checked before any work is done (it is checked again when written)."""
    from pot._internal import files

    files.check_output(value, **_protected(args))
    return Path(value)


def _database(args: argparse.Namespace) -> str | None:
    """The PostgreSQL URL from --database or POT_DATABASE_URL; None for SQLite in the store directory."""
    from pot.config import ProvenanceConfig

    return ProvenanceConfig(database_url=getattr(args, "database", None) or None).resolve_database()


def _open_store(args: argparse.Namespace, *, create: bool = False) -> Any:
    from pot.log.store import open_store

    return open_store(_database(args), root=_store_dir(args), create=create)


def _through_server(args: argparse.Namespace) -> bool:
    """Whether the recording verbs record through a server: POT_SERVER_URL is set and no --store or --database
    names a local store."""
    from pot.config import ProvenanceConfig

    if getattr(args, "store", None) or getattr(args, "database", None):
        return False
    return ProvenanceConfig().resolve_server() is not None


def _recorder(args: argparse.Namespace) -> Any:
    """A recorder on the store named by the flags, with the settings saved by ``pot init``; or, with
    POT_SERVER_URL set, one that records through that server (its spool in POT_SPOOL_DIR or the store directory)."""
    from pot.config import ProvenanceConfig
    from pot.recorder import ProvenanceRecorder

    if _through_server(args):
        return ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(_store_dir(args))))
    with _open_store(args) as store:
        config = ProvenanceConfig(
            enabled=True, store_dir=str(store.root), database_url=_database(args),
            blockchain_enabled=store.get_setting("blockchain_enabled") == "true",
            fingerprint_checkpoints=store.get_setting("fingerprint_checkpoints", "true") == "true")
    return ProvenanceRecorder(config)


def _emit(args: argparse.Namespace, text: str, data: Any) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        from pot._internal.render import safe_lines

        print(safe_lines(text))


# --- verbs -----------------------------------------------------------------------------------------------------


@handler("init")
def _init(args: argparse.Namespace) -> int:
    from pot.config import ProvenanceConfig
    from pot.log.keys import PASSPHRASE_ENV, passphrase_from_env
    from pot.recorder import settle_signing_key

    with _open_store(args, create=True) as store:
        opened = settle_signing_key(store, ProvenanceConfig().resolve_key_file(store.root))
        key = opened.key
        if passphrase_from_env() and not opened.encrypted:
            print(f"pot: warning: {PASSPHRASE_ENV} is set but the existing signing key {opened.path} is not "
                  "encrypted, and init never rewrites a key: it stays unencrypted (see `pot init --help`)",
                  file=sys.stderr)
        if args.blockchain:
            store.set_setting("blockchain_enabled", "true")
        if args.fingerprint:
            store.set_setting("fingerprint_checkpoints", "true")
        if (args.tsa is None) != (args.tsa_cert is None):
            raise UsageError("--tsa URL and --tsa-cert PEM go together: a token is kept only once it checks out "
                             "against the TSA's certificate")
        if args.tsa is not None:
            from pot.anchors.tsa import load_certificates
            from pot.config import TsaSettings

            TsaSettings.resolve(environ={"POT_TSA_URL": args.tsa}, dotenv=None)  # refuses a URL that is none
            load_certificates(args.tsa_cert)  # refuses a file that holds no certificate
            store.set_setting("tsa_url", args.tsa)
            store.set_setting("tsa_cert", str(Path(args.tsa_cert).resolve()))
        data = {"store": str(store.root), "key_id": key.key_id, "public_key": key.public.hex,
                "blockchain_enabled": store.get_setting("blockchain_enabled") == "true",
                "tsa_url": store.get_setting("tsa_url")}
        where = str(store.root)
        if store.dialect == "postgresql":  # the URL shown without its password
            data["database"] = where = store.url
            where += f" (signing key {opened.path})"
        chain = ""
        if data["tsa_url"]:
            chain += f"\nTSA anchoring on ({data['tsa_url']}, tokens checked against {store.get_setting('tsa_cert')})"
        if data["blockchain_enabled"]:
            chain += "\nchain anchoring on (RPC_URL, PRIVATE_KEY, CONTRACT_ADDRESS from the environment or .env)"
            try:
                contract = _chain_settings(args, store).contract_address
            except UsageError:
                contract = "?"  # a bad setting is named by the verbs that use it
            if not contract:
                chain += "; no CONTRACT_ADDRESS yet: `pot contract deploy` makes one and saves it here"
    _emit(args, f"store ready at {where}\nsigning key id {key.key_id}\npublic key   {key.public.hex}" + chain,
          data)
    return EXIT_OK


def _record(args: argparse.Namespace, call: Callable[[Any], str]) -> int:
    """Record, then sign and anchor its head. Once the record is stored the verb succeeds, whatever happens to its
    head: a script that retried on failure would record it a second time. What went wrong with the head is one
    line on stderr (and ``warning`` in --json); the head is signed or anchored later (``pot test`` says why not).
    """
    from pot.log.records import check_name
    from pot.recorder import HEAD_FAILURE

    recorder = _recorder(args)
    if recorder.remote is not None:
        return _record_through_server(args, recorder, call)
    try:
        # A head that cannot be read (a corrupt store) could never be signed over: refuse before storing a record,
        # in one line, rather than store it and fail at the head.
        recorder.store.latest_head(check_name(args.model_id, "model_id"))
        record_id = call(recorder)
    except BaseException:
        with contextlib.suppress(PotError):  # the record was refused: that is the error to report
            recorder.close()
        raise
    warning = None
    # The recorder logs what went wrong with the head itself; here it is said once, with what it means for the record.
    quiet = _DropRecords(HEAD_FAILURE)
    log.addFilter(quiet)
    try:
        recorder.close()
    except PotError as exc:
        warning = (f"record {record_id} is stored, but its tree head could not be signed ({exc}); the next record or "
                   "`pot proof` signs it")
    finally:
        log.removeFilter(quiet)
    failures = recorder.local_anchor_failures
    if warning is None and failures:
        reason = "; ".join(str(exc) for exc in failures.values())
        warning = (f"record {record_id} is stored, but its tree head could not be anchored on the local chain "
                   f"({reason}); `pot test` names the problem")
    _emit(args, record_id, {"id": record_id, "stored": True, "head_anchored_locally": warning is None,
                            "warning": warning})
    if warning is not None:
        print(f"pot: warning: {warning}", file=sys.stderr)
    return EXIT_OK


class _DropRecords(logging.Filter):
    """Drops log records that carry the attribute ``flag``."""

    def __init__(self, flag: str) -> None:
        super().__init__()
        self.flag = flag

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, self.flag, False)


@handler("checkpoint")
def _checkpoint(args: argparse.Namespace) -> int:
    metrics = _json_arg(args.metrics, "--metrics")
    if args.epoch < 0:
        raise UsageError(f"--epoch must be >= 0, got {args.epoch}")
    return _record(args, lambda r: r.record_training_checkpoint(
        model_hash=args.model_hash, metrics=metrics, epoch=args.epoch, model_id=args.model_id, step=args.step,
        checkpoint_path=args.checkpoint_file, fingerprint_hash=args.fingerprint_hash))


@handler("validate")
def _validate(args: argparse.Namespace) -> int:
    result = _json_arg(args.result, "--result")
    return _record(args, lambda r: r.record_validation(
        model_hash=args.model_hash, validator_id=args.validator, validation_result=result,
        model_id=args.model_id, confidence_score=args.confidence, challenge_hash=args.challenge_hash))


_SERVER_WAIT = 10.0  # seconds a record verb waits for the server to take its record before leaving it spooled


def _record_through_server(args: argparse.Namespace, recorder: Any, call: Callable[[Any], str]) -> int:
    """Record into the spool, send it (waiting up to 10 s), print the server's record id. Once spooled
    the verb succeeds: a record the server has not taken yet stays in the spool (a warning says where) and the next
    recorder on that spool sends it."""
    try:
        handle = call(recorder)
    except BaseException:
        with contextlib.suppress(PotError):
            recorder.close()
        raise
    from pot.recorder import HEAD_FAILURE

    remote = recorder.remote
    quiet = _DropRecords(HEAD_FAILURE)  # the recorder's own lines about the spool: said once below instead
    log.addFilter(quiet)
    try:
        recorder.flush(timeout=min(recorder.config.anchor_timeout, _SERVER_WAIT))
        record_id = recorder.server_record_id(handle)
        refused = [reason for _, key, reason in remote.spool.refused() if key == handle]
        recorder.close(timeout=0)  # flushed just now: what is left waits for the next recorder on this spool
    finally:
        log.removeFilter(quiet)
    warning = None
    if refused:
        warning = f"the server {remote.shown} refused the record ({refused[0]}); it is kept in {remote.spool.path}"
    elif record_id is None:
        warning = (f"the record is spooled in {remote.spool.path} (key {handle}) but the server {remote.shown} has "
                   f"not taken it yet ({remote.last_problem or 'still sending'}); the next recorder on this spool "
                   "sends it")
    shown = record_id or handle
    _emit(args, shown, {"id": record_id, "idempotency_key": handle, "stored": record_id is not None,
                        "spooled": True, "server": remote.shown, "warning": warning})
    if warning is not None:
        print(f"pot: warning: {warning}", file=sys.stderr)
    return EXIT_OK if not refused else EXIT_USAGE


@handler("proof")
def _proof(args: argparse.Namespace) -> int:
    from pot.log.records import check_name

    output = _output(args, args.output)  # refused before a head is signed or anything written
    with _open_store(args) as store:
        # The new head is signed over the latest one: one that cannot be read is reported here, once, rather than
        # by each attempt of the background signer.
        store.latest_head(check_name(args.model_id, "model_id"))
    with _recorder(args) as recorder:
        proof = recorder.generate_proof_of_training(args.model_id, disclose=args.record)
    proof.save(output, **_protected(args))
    _emit_proof(args, proof, output)
    return EXIT_OK


def _emit_proof(args: argparse.Namespace, proof: Any, output: Path) -> None:
    latest = proof.latest_head
    data = {"output": str(output), "model_id": proof.model_id, "disclosure": proof.disclosure,
            "records": len(proof.disclosed), "tree_heads": len(proof.tree_heads), "merkle_root": proof.merkle_root,
            "signer_key_id": proof.signer.key_id}
    _emit(args, f"wrote {proof.disclosure} proof of {proof.model_id} to {output}: {len(proof.disclosed)} record(s), "
                f"{len(proof.tree_heads)} signed tree head(s), root {proof.merkle_root}"
                f" (log size {latest.tree_size if latest else 0})", data)


@handler("verify")
def _verify(args: argparse.Namespace) -> int:
    from pot._internal import render
    from pot.log.proof import ProvenanceProof
    from pot.log.verify import verify_proof

    args.proof = _proof_path(args)
    if (args.model_key or args.model_signature) and not args.model_dir:
        raise UsageError("--model-key and --model-signature go with --model-dir DIR")
    trusted, now, local_chain, checker = _verification_options(args)
    try:
        proof = ProvenanceProof.load(args.proof)
    except FormatError as exc:  # the file is there but is no valid pot proof (malformed, unknown version ...)
        _emit(args, f"proof {render.safe(args.proof)}\nFAILED: format: {render.safe(exc)}",
              {"ok": False, "checks": [{"name": "format", "passed": False, "detail": str(exc)}]})
        return EXIT_VERIFY_FAILED
    parents = [ProvenanceProof.load(path) for path in args.parent]
    failure = None
    unreachable = False
    try:
        report = verify_proof(proof, trusted_key=trusted, local_chain=local_chain, chain_checker=checker,
                              parents=parents, now=now, tsa_certs=args.tsa_cert)
    except VerificationError as exc:
        report, failure = exc.report, f"{exc.check}: {exc}"
        if report is None:
            raise
        # The chain check is the last to run, so a first failure there means every other check passed: the chain
        # could not be asked, which is this machine's network or endpoint, not the proof (exit 3, not 1).
        unreachable = isinstance(exc, ChainUnreachable)
    checkpoint_match = None
    if args.checkpoint:
        from pot.log.verify import Check, find_checkpoint_file

        # One verdict: whether the file is one the proof recorded is a check of the report like the others.
        checkpoint_match = find_checkpoint_file(proof, args.checkpoint)
        report.checks.append(Check("checkpoint", checkpoint_match["recorded"], checkpoint_match["message"]))
        if failure is None and not checkpoint_match["recorded"]:
            failure = f"checkpoint: {checkpoint_match['message']}"
    model_dir, file_lines = None, None
    if args.model_dir:
        model_checks, model_dir, file_lines = _model_dir_checks(args, proof)
        report.checks.extend(model_checks)
        first_failed = next((c for c in model_checks if not c.passed), None)
        if failure is None and first_failed is not None:
            failure = f"{first_failed.name}: {first_failed.detail}"
    data = report.to_json()
    if checkpoint_match is not None:
        data["checkpoint"] = checkpoint_match
    if model_dir is not None:
        data["model_dir"] = model_dir
    unreachable = unreachable and all(c.passed for c in report.checks if c.name != "chain")
    if unreachable:
        data["unchecked"] = ["chain"]
    _emit(args, render.report(args.proof, report, failure, unchecked=unreachable, details=file_lines), data)
    if failure is None:
        return EXIT_OK
    return EXIT_ENVIRONMENT if unreachable else EXIT_VERIFY_FAILED


def _parse_now(args: argparse.Namespace) -> Any:
    """``--now T``: the verifier's clock, or None for the machine's."""
    if args.now is None:
        return None
    from pot.log.records import parse_timestamp

    try:
        return parse_timestamp(args.now)
    except FormatError as exc:
        raise UsageError(f"--now: {exc}") from None


def _verification_options(args: argparse.Namespace) -> tuple[Any, Any, Path | None, Any]:
    """What `pot verify` and `pot show` pass the verifier: the pinned key, the clock (--now), the local chain file
    and the online chain checker (--rpc), each refused as a usage error when malformed."""
    from pot.log.keys import PublicKey

    trusted = PublicKey.from_text(args.trusted_key) if args.trusted_key else None
    now = _parse_now(args)
    local_chain = Path(args.local_chain) if args.local_chain else None
    if local_chain is not None and not paths.is_file(local_chain, "--local-chain"):
        raise UsageError(f"no local chain file at {local_chain}")
    checker = None
    if args.rpc:
        from pot.anchors.ethereum import online_checker

        checker = online_checker(args.rpc)
    return trusted, now, local_chain, checker


@handler("show")
def _show(args: argparse.Namespace) -> int:
    """Verify, then present. A proof that fails is shown as its failed report and nothing else, exit 1: its content
    is not what it claims to be, and a page of it would read as fact."""
    from pot._internal import render, show
    from pot.log.proof import ProvenanceProof
    from pot.log.verify import verify_proof

    path = _proof_path(args)
    trusted, now, local_chain, checker = _verification_options(args)
    refused = "not shown: pot show presents only a proof that verifies"
    try:
        proof = ProvenanceProof.load(path)
    except FormatError as exc:  # there, but no valid pot proof: a failed verification, as pot verify reports it
        _emit(args, f"proof {render.safe(path)}\nFAILED: format: {render.safe(exc)}\n{refused}",
              {"ok": False, "proof": path,
               "verification": {"ok": False, "checks": [{"name": "format", "passed": False, "detail": str(exc)}]}})
        return EXIT_VERIFY_FAILED
    try:
        report = verify_proof(proof, trusted_key=trusted, local_chain=local_chain, chain_checker=checker, now=now,
                              tsa_certs=args.tsa_cert)
    except VerificationError as exc:
        if exc.report is None:
            raise
        # As pot verify: a chain that cannot be asked, with every other check passed, is exit 3 (not the proof).
        unreachable = isinstance(exc, ChainUnreachable) and all(c.passed for c in exc.report.checks
                                                                 if c.name != "chain")
        verification = exc.report.to_json() | ({"unchecked": ["chain"]} if unreachable else {})
        _emit(args, render.report(path, exc.report, f"{exc.check}: {exc}", unchecked=unreachable) + f"\n{refused}",
              {"ok": False, "proof": path, "verification": verification})
        return EXIT_ENVIRONMENT if unreachable else EXIT_VERIFY_FAILED
    _emit(args, show.page(path, proof, report), show.summary(path, proof, report))
    return EXIT_OK


@handler("attest")
def _attest(args: argparse.Namespace) -> int:
    from pot._internal import files
    from pot.attest.intoto import POT_PREDICATE_TYPE, SLSA_PREDICATE_TYPE, ProofFile, attest, subjects
    from pot.config import ProvenanceConfig
    from pot.log.keys import SigningKey, passphrase_from_env
    from pot.log.records import check_name

    if (args.model_id is None) == (args.proof is None):
        raise UsageError("what to attest? give --model-id ID (a new proof of the model) or --proof FILE, not both")
    if args.proof_output is not None and args.model_id is None:
        raise UsageError("--proof-output goes with --model-id (with --proof the proof file already exists)")
    output = _output(args, args.output)  # every output is refused before a head is signed or anything written
    slsa = _output(args, args.slsa) if args.slsa else None
    proof_output = None
    if args.model_id is not None:
        proof_output = _output(args, args.proof_output or _beside(output, ".proof.json"))
    # The proof read is never overwritten by what is written from it.
    files_named = [p for p in (output, slsa, proof_output, Path(args.proof) if args.proof else None) if p is not None]
    if len({p.resolve() for p in files_named}) != len(files_named):
        raise UsageError("--output, --slsa and the proof's file must be different files")
    with _open_store(args) as store:
        key = SigningKey.load(ProvenanceConfig().resolve_key_file(store.root), passphrase_from_env())
        if args.model_id is not None:
            store.latest_head(check_name(args.model_id, "model_id"))
    if args.model_id is not None:
        with _recorder(args) as recorder:
            proof_file = ProofFile.of(recorder.generate_proof_of_training(args.model_id))
    else:
        proof_file = ProofFile.load(args.proof)
    kinds = (POT_PREDICATE_TYPE, SLSA_PREDICATE_TYPE) if slsa is not None else (POT_PREDICATE_TYPE,)
    envelopes = attest(key, proof_file, kinds)
    if proof_output is not None:
        files.write_output(proof_output, proof_file.data, **_protected(args))
    for path, envelope in zip((output, slsa), envelopes, strict=False):
        assert path is not None
        files.write_output(path, envelope.dumps(), **_protected(args))
    digests = proof_file.digests()
    named = subjects(proof_file.proof)
    lines = [f"wrote {output}: an in-toto Statement v1 ({POT_PREDICATE_TYPE}) in a DSSE envelope signed by key id "
             f"{key.key_id}"]
    if slsa is not None:
        lines.append(f"wrote {slsa}: SLSA Provenance v1 ({SLSA_PREDICATE_TYPE}) of the run, signed by the same key")
    if proof_output is not None:
        lines.append(f"wrote {proof_output}: the proof attested")
    lines.append(f"proof {proof_output or args.proof}: sha256 {digests['sha256']}")
    lines.extend(f"subject {s['name']}: " + ", ".join(f"{k} {v}" for k, v in s["digest"].items()) for s in named)
    _emit(args, "\n".join(lines), {"output": str(output), "slsa": None if slsa is None else str(slsa),
                                   "proof": str(proof_output or args.proof), "proof_digest": digests,
                                   "key_id": key.key_id, "subjects": named})
    return EXIT_OK


def _beside(path: Path, suffix: str) -> str:
    """``model.intoto.json`` -> ``model`` + suffix, in the same directory."""
    name = path.name
    for ending in (".json", ".jsonl", ".intoto"):
        name = name.removesuffix(ending)
    return str(path.with_name((name or "attestation") + suffix))


@handler("verify-attestation")
def _verify_attestation(args: argparse.Namespace) -> int:
    from pot._internal import render
    from pot.attest.dsse import MAX_ENVELOPE_BYTES
    from pot.attest.intoto import ProofFile, verify_attestation
    from pot.log.keys import PublicKey
    from pot.log.proof import read_proof_file

    trusted = PublicKey.from_text(args.trusted_key) if args.trusted_key else None
    now = _parse_now(args)
    data = read_proof_file(args.attestation, max_bytes=MAX_ENVELOPE_BYTES, what="attestation file")
    proof_file = ProofFile.load(args.proof) if args.proof else None
    failure = None
    try:
        report = verify_attestation(data, trusted_key=trusted, proof_file=proof_file, now=now)
    except VerificationError as exc:
        if exc.report is None:
            raise
        report, failure = exc.report, f"{exc.check}: {exc}"
    # One line per check: text read from the attestation is escaped whole, line breaks included.
    lines = [f"attestation {render.safe(args.attestation)}: {render.safe(report.predicate_type or 'not read')}"]
    lines += [f"  {'ok  ' if c.passed else 'FAIL'} {c.name:<10} {render.safe(c.detail)}" for c in report.checks]
    lines += [f"  note: {render.safe(note)}" for note in report.notes]
    lines.append("VERIFIED" if failure is None else f"FAILED: {render.safe(failure)}")
    _emit(args, "\n".join(lines), report.to_json())
    return EXIT_OK if failure is None else EXIT_VERIFY_FAILED

@handler("replay")
def _replay(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pot._internal import files, render
    from pot.log.keys import PublicKey, SigningKey, passphrase_from_env
    from pot.replay import attest_replay, load_plan
    from pot.replay.entry import load_entry

    path = _proof_path(args)
    if (args.sign_with is None) != (args.attestation is None):
        raise UsageError("--sign-with and --attestation go together")
    if args.attestation:
        files.check_output(args.attestation)
    signer = SigningKey.load(Path(args.sign_with), passphrase_from_env()) if args.sign_with else None
    if not paths.is_file(Path(path), "--proof"):
        raise UsageError(f"no proof file at {path}")
    try:
        from pot.replay import torch as replay_torch
    except ImportError as exc:
        raise PotError(f"pot replay needs PyTorch ({exc})") from None  # exit 3: the environment lacks it
    factory = load_entry(args.entry)
    trusted = PublicKey.from_text(args.trusted_key) if args.trusted_key else None
    try:
        plan = load_plan(path, trusted_key=trusted)
    except (VerificationError, FormatError) as exc:  # as pot verify: a proof that is no valid proof fails (exit 1)
        check = exc.check if isinstance(exc, VerificationError) else "format"
        print(f"proof {render.safe(path)}: FAILED {check}: {render.safe(exc)}; nothing replayed")
        return EXIT_VERIFY_FAILED
    quiet = getattr(args, "json", False)
    if not quiet:
        print(f"proof {render.safe(path)} verified{'' if trusted else ' (self-consistent only: no --trusted-key)'}; "
              f"run {plan.run_id}: {len(plan.segments)} segment(s) recorded for replay")

    def line(result: Any) -> None:
        if not quiet:
            print(render.safe(replay_torch.segment_line(result)), flush=True)

    failure = None
    try:
        report = replay_torch.replay_segments(plan, args.checkpoints, factory, count=args.segments,
                                              indexes=args.segment, seed=args.seed, tolerance=args.tolerance,
                                              on_result=line)
    except VerificationError as exc:
        report, failure = exc.report, exc
        if report is None:
            raise
    if signer is not None:  # names the proof as load_plan read it: the same bytes, not the file read again
        document = attest_replay(report, signer, datetime.now(UTC))
        with files.output_file(args.attestation) as handle:
            handle.write((json.dumps(document, indent=1) + "\n").encode())
    _emit(args, replay_torch.verdict_line(report) + (f"\nattestation signed by {signer.key_id[:16]}... written to "
                                                     f"{args.attestation}" if signer else ""),
          replay_torch.report_json(report))
    return EXIT_VERIFY_FAILED if failure is not None else EXIT_OK


@handler("history")
def _history(args: argparse.Namespace) -> int:
    from pot._internal import render
    from pot.log.records import record_fields

    plot = None
    if args.plot:
        if not args.model_id:
            raise UsageError("--plot needs --model-id: one model's metrics are plotted")
        plot = _output(args, args.plot)
        render.plot_format(plot)  # a format matplotlib cannot write is refused before anything is read
    with _open_store(args) as store:
        if not args.model_id:
            models = [(m, store.size(m)) for m in store.models()]
            _emit(args, render.table(("model id", "records"), models) if models else "the store has no records yet",
                  [{"model_id": m, "records": n} for m, n in models])
            return EXIT_OK
        store.require_model(args.model_id)
        records = list(store.records(args.model_id))
    text = render.history(args.model_id, records)
    if plot is not None:
        render.plot_metrics(args.model_id, records, plot, **_protected(args))
        text += f"\nplotted to {args.plot}"
    _emit(args, text, [{"kind": r.KIND, **record_fields(r)} for r in records])
    return EXIT_OK


@handler("test")
def _test(args: argparse.Namespace) -> int:
    from pot.diagnostics import check_blockchain, check_local

    results = check_local(_store_dir(args), _database(args))
    if args.blockchain:
        results += check_blockchain(_store_dir(args), _database(args))
    ok = all(r.passed for r in results)
    text = "\n".join(f"  {'ok  ' if r.passed else 'FAIL'} {r.name}: {r.detail}" for r in results)
    _emit(args, text + ("\nall checks passed" if ok else "\nsome checks failed"),
          {"ok": ok, "checks": [{"name": r.name, "passed": r.passed, "detail": r.detail} for r in results]})
    return EXIT_OK if ok else EXIT_ENVIRONMENT


@handler("hash")
def _hash(args: argparse.Namespace) -> int:
    from pot import hashing

    path = Path(args.path)
    progress = hashing.stderr_progress(f"hashing {path.name}")
    if paths.is_dir(path, "path"):
        digest: Any = hashing.hash_directory(path, progress=progress)
        kind, entries = "pot.file-set.v1", [(f.path, f"{f.size} bytes", f.sha256) for f in digest.manifest]
    elif path.suffix == ".safetensors":
        digest = hashing.hash_safetensors(path, progress=progress)
        kind, entries = "pot.model-hash.v1", [(t.name, f"{t.dtype}{list(t.shape)}", t.sha256) for t in digest.manifest]
    else:
        sha = hashing.hash_file(path, progress=progress)
        _emit(args, f"{sha}  {path} (sha256 of the file)", {"path": str(path), "kind": "sha256", "digest": sha})
        return EXIT_OK
    text = f"{digest.digest}  {path} ({kind}, {len(entries)} entries)"
    if args.manifest:
        text += "\n" + "\n".join(f"  {sha}  {name}  {what}" for name, what, sha in entries)
    _emit(args, text, {"path": str(path), "kind": kind, **digest.to_json()})
    return EXIT_OK


@handler("key")
def _key(args: argparse.Namespace) -> int:
    from pot.config import ProvenanceConfig
    from pot.log.keys import SigningKey, passphrase_from_env

    if args.key_verb == "ecdsa-new":
        return _ecdsa_new(args)
    with _open_store(args) as store:
        key_file = ProvenanceConfig().resolve_key_file(store.root)
        public = _stored_public_key(key_file, store.get_setting("key_id"))
        if public is None:  # no plain copy to trust: derive it from the key itself (asks for the passphrase)
            public = SigningKey.load(key_file, passphrase_from_env()).public
    _emit(args, public.hex, {"algorithm": "ed25519", "public_key": public.hex, "key_id": public.key_id})
    return EXIT_OK


def _ecdsa_new(args: argparse.Namespace) -> int:
    from pot.attest import oms

    _output(args, args.out)  # never inside a store, never over pot's own key
    passphrase = os.environ.get(oms.KEY_PASSPHRASE_ENV) or None
    public = oms.generate_key(args.out, passphrase)
    hint = oms.public_key_hint(oms.load_public_key(public))
    _emit(args, f"wrote ECDSA P-256 key {args.out} (mode 0600{', encrypted' if passphrase else ''}) and its public "
                f"half {public} (hint {hint[:16]}...): give {public} to whoever verifies your model signatures",
          {"private_key": args.out, "public_key": str(public), "algorithm": "ecdsa-p256", "hint": hint,
           "encrypted": bool(passphrase)})
    return EXIT_OK


@handler("sign-model")
def _sign_model(args: argparse.Namespace) -> int:
    from pot.attest import oms

    key = oms.load_private_key(args.key, os.environ.get(oms.KEY_PASSPHRASE_ENV) or None)
    signed = oms.sign_model(args.path, key, signature=args.signature, proof=args.proof,
                             attestation=args.attestation, protect=_protected(args))
    public = Path(args.key).with_suffix(".pub")
    try:
        public_ok = oms.public_key_hint(oms.load_public_key(public)) == signed.public_key_hint
    except PotError:
        public_ok = False
    public_text = str(public) if public_ok else "KEY.pub"
    lines = [f"signed {len(signed.manifest.files)} file(s) of {signed.model_dir} into {signed.signature} (OpenSSF "
             f"model signing, ECDSA P-256 key hint {signed.public_key_hint[:16]}...)",
             f"  pot.file-set.v1 digest {signed.manifest.file_set_digest}, OMS subject digest "
             f"{signed.manifest.root_digest}"]
    width = max((len(f.path) for f in signed.manifest.files), default=0)
    described = {m.path: m.detail for m in signed.matches}
    for entry in signed.manifest.files:
        lines.append(f"  {entry.path.ljust(width)}  {entry.sha256[:16]}...  {described.get(entry.path, '')}".rstrip())
    if not public_ok:
        lines.append(f"  (no {public} holding this key's public half: `openssl ec -in {args.key} -pubout -out "
                     "KEY.pub` writes it)")
    lines.append(f"verify it: model_signing verify key {signed.model_dir} --signature {signed.signature} "
                 f"--public_key {public_text}")
    if signed.proof is not None:
        lines.append(f"           pot verify --proof {signed.proof} --model-dir {signed.model_dir} "
                     f"--model-key {public_text} --trusted-key THE_SIGNERS_POT_KEY")
    _emit(args, "\n".join(lines),
          {"model_dir": str(signed.model_dir), "signature": str(signed.signature),
           "public_key_hint": signed.public_key_hint, "file_set_digest": signed.manifest.file_set_digest,
           "oms_subject_digest": signed.manifest.root_digest,
           "attestations": [str(p) for p in signed.attestations],
           "proof": str(signed.proof) if signed.proof is not None else None,
           "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in signed.manifest.files],
           "matches": [m.to_json() for m in signed.matches]})
    return EXIT_OK


def _model_dir_checks(args: argparse.Namespace, proof: Any) -> tuple[list[Any], dict[str, Any], dict[str, list[str]]]:
    """The checks of ``pot verify --model-dir``, their JSON, and the per-file lines shown under them."""
    from pot.attest import oms

    public = oms.load_public_key(args.model_key) if args.model_key else None
    result = oms.check_model_dir(proof, Path(args.proof), args.model_dir, signature=args.model_signature,
                                 public_key=public, public_key_name=args.model_key)
    width = max((len(m.path) for m in result.files), default=0)
    lines = [f"{'ok  ' if m.recorded else 'FAIL'} {m.path.ljust(width)}  {m.detail}" for m in result.files]
    return result.checks, result.to_json(), {"model-files": lines}


def _stored_public_key(key_file: Path, key_id: str | None) -> Any:
    """The public half the store keeps beside its key (``signing-key.pub``), if it is the key this store signs
    with: a public key needs no passphrase to show."""
    from pot.log.keys import PublicKey

    if key_id is None:
        return None
    try:
        public = PublicKey.from_text(key_file.with_suffix(".pub").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, PotError):
        return None
    return public if public.key_id == key_id else None


def _chain_settings(args: argparse.Namespace, store: Any) -> Any:
    from pot.config import ChainSettings

    saved = {name: value for name in ("contract_address", "chain_id") if (value := store.get_setting(name))}
    overrides = {"rpc_url": args.rpc_url} if getattr(args, "rpc_url", None) else None
    return ChainSettings.resolve(overrides=overrides, saved=saved)


@handler("contract")
def _contract(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from pot.anchors.ethereum import EthereumAnchor, deploy_registry
    from pot.anchors.ethereum_receipt import chain_name

    with _open_store(args) as store:
        settings = _chain_settings(args, store)
        if not settings.rpc_url:
            raise UsageError("no RPC endpoint: set RPC_URL (environment or .env) or pass --rpc-url")
        address = deploy_registry(settings)
        # Saved before anything else can fail: the deployment is paid for, and a lost address means paying again.
        store.set_setting("contract_address", address)
        try:
            chain_id = EthereumAnchor(replace(settings, contract_address=address)).chain_id
        except AnchorError as exc:
            raise type(exc)(f"deployed ProvenanceRegistry at {address} (saved in the store), but then: {exc}"
                            ) from None
        store.set_setting("chain_id", str(chain_id))
    _emit(args, f"deployed ProvenanceRegistry at {address} on {chain_name(chain_id)}; saved in the store "
                f"(set CONTRACT_ADDRESS={address} to use it elsewhere)",
          {"contract_address": address, "chain_id": chain_id})
    return EXIT_OK


@handler("anchor")
def _anchor(args: argparse.Namespace) -> int:
    from pot.anchors.base import Anchor
    from pot.anchors.tsa import tsa_anchor_for
    from pot.config import ProvenanceConfig
    from pot.recorder import ProvenanceRecorder

    config = ProvenanceConfig(enabled=True)
    with _open_store(args) as store:
        settings = _chain_settings(args, store)
        root = store.root
        config.store_dir = str(root)
        config.database_url = _database(args)
        tsa = tsa_anchor_for(config, store)
    if not settings.wants_chain and tsa is None:
        raise UsageError("no chain configured, nor a TSA: set RPC_URL and CONTRACT_ADDRESS (and PRIVATE_KEY), or "
                         "deploy with `pot contract deploy`; or set POT_TSA_URL and POT_TSA_CERT (`pot init --tsa`)")
    anchors: list[Anchor] = []
    if settings.wants_chain:
        from pot.anchors.ethereum import EthereumAnchor

        # The anchor first: a missing [chain] extra or a bad setting is then the command's one error line, before a
        # recorder could warn about the same thing.
        anchors.append(EthereumAnchor(settings))
    anchors += [tsa] if tsa is not None else []
    recorder = ProvenanceRecorder(config, chain_anchors=anchors)
    try:
        receipts = recorder.anchor_pending(args.model_id)
        left = sum(len(recorder.store.pending_heads(a.backend, args.model_id)) for a in anchors)
    finally:
        recorder.close()
    data = {"anchored": len(receipts), "pending": left,
            "transactions": [r.details.get("tx_hash") for r in receipts if r.backend == "ethereum"],
            "tsa_tokens": sum(1 for r in receipts if r.backend == "tsa")}
    done = " and ".join(f"{sum(1 for r in receipts if r.backend == a.backend)} head(s) "
                        f"{'on chain' if a.backend == 'ethereum' else 'with the TSA'}" for a in anchors)
    _emit(args, f"anchored {done}, covering every earlier head of their models; {left} still pending", data)
    return EXIT_OK if left == 0 else EXIT_ENVIRONMENT


@handler("chain")
def _chain(args: argparse.Namespace) -> int:
    from pot.anchors.ethereum_receipt import chain_name
    from pot.anchors.onchain import check_record_on_chain, record_call
    from pot.log.proof import ProvenanceProof

    call = record_call(ProvenanceProof.load(_proof_path(args)), args.record, seq=args.seq, leaf_only=args.leaf_only)
    where = f"{call.contract} on {chain_name(call.chain_id)}"
    if args.chain_verb == "calldata":
        data = call.to_json()
        _emit(args, "\n".join([f"to        {where}", f"function  {call.signature} returns {call.returns}",
                                *(f"  {name:<9} {value}" for name, value in zip(
                                    ("submitter", "root", "leafHash" if call.leaf_only else "record", "index",
                                     "proof"), call.cast_arguments(), strict=True)),
                                f"data      {data['data']}"]), data)
        return EXIT_OK
    result = check_record_on_chain(call, args.rpc)
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(result.block_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = (f"record {call.record_id} (seq {call.seq}) is in the log whose root {call.submitter} anchored on {where}"
            f"\n  checked on chain by {call.signature}: leaf {result.leaf_hash.hex()}, index {call.seq} of "
            f"{result.tree_size}\n  anchored in block {result.block_number} at {when} (the record existed by then)")
    if result.development_chain:
        text += "\n  note: a development chain: whoever runs it sets its clock, so its block time proves no time"
    _emit(args, text, result.to_json())
    return EXIT_OK


@handler("runs")
def _runs(args: argparse.Namespace) -> int:
    from pot._internal import render
    from pot.lineage import registry
    from pot.log.records import record_fields

    if args.runs_verb == "reproducible":
        from pot.log.proof import ProvenanceProof

        parents = {proof.model_id: proof for proof in (ProvenanceProof.load(f) for f in args.parent)}
        recorder = _recorder(args)
        try:
            result = registry.reproducibility(recorder, args.run_id, parent_proofs=parents)
        finally:
            recorder.close()
        _emit(args, render.checks(f"run {args.run_id}", result.checks,
                                  "REPRODUCIBLE" if result.reproducible else "NOT REPRODUCIBLE"), result.to_json())
        return EXIT_OK if result.reproducible else EXIT_VERIFY_FAILED
    with _open_store(args) as store:
        if args.runs_verb == "list":
            runs = registry.list_runs(store, kind=args.kind, status=args.status, limit=args.n)
            _emit(args, render.runs_table(runs), runs)
        elif args.runs_verb == "show":
            run = registry.get_run(store, args.run_id)
            started = registry.run_started_data(store, run)
            records = registry.run_records(store, run)
            _emit(args, render.run_details(run, started, records),
                  {**run, "started_data": started, "records": [{"kind": r.KIND, **record_fields(r)} for r in records]})
        elif args.runs_verb == "compare":
            from pot.lineage.compare import compare_runs

            comparison = compare_runs(store, args.run_a, args.run_b)
            _emit(args, render.run_comparison(comparison), comparison)
        elif args.runs_verb == "export-config":
            from pot._internal import files

            out = _output(args, args.out)
            exported = registry.export_config(store, args.run_id)
            files.write_output(out, json.dumps(exported, indent=1, ensure_ascii=False) + "\n", **_protected(args))
            _emit(args, f"wrote the config of {args.run_id} to {args.out}", exported)
        else:
            stats = registry.run_stats(store)
            _emit(args, render.run_stats(stats), stats)
    return EXIT_OK


@handler("lineage")
def _lineage(args: argparse.Namespace) -> int:
    from pot._internal import render
    from pot.lineage import registry

    with _open_store(args) as store:
        graph = registry.lineage(store, args.node_id)
        if args.dot:
            print(graph.to_dot(args.node_id))
            return EXIT_OK
        _emit(args, render.lineage(graph, args.node_id), graph.to_json(args.node_id))
    return EXIT_OK


def _gate_arg(text: str) -> Any:
    from pot.lineage.gates import Gate

    path = Path(text)
    if not text.lstrip().startswith("{") and paths.names_a_file(text):
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_JSON_ARGUMENT + 1)  # bytes: the strict reader names a file that is not UTF-8
        except OSError as exc:
            raise UsageError(f"cannot read gate file {path}: {exc.strerror}") from None
        return Gate.from_json(data)
    return Gate.from_json(text)


@handler("promote")
def _promote(args: argparse.Namespace) -> int:
    from pot._internal import render

    gate = _gate_arg(args.gate)
    with _recorder(args) as recorder:
        promoted, event = recorder.promote(args.model_id, args.stage, gate, validator_id=args.validator)
    _emit(args, render.promotion(event), {"promoted": promoted, "event_id": event.event_id, **event.data})
    return EXIT_OK if promoted else EXIT_VERIFY_FAILED


@handler("rollback")
def _rollback(args: argparse.Namespace) -> int:
    with _recorder(args) as recorder:
        event = recorder.rollback(args.model_id, args.stage, args.to, args.reason)
    _emit(args, f"stage {args.stage} of {args.model_id} rolled back to {args.to} (event {event.event_id[:16]}...)",
          {"event_id": event.event_id, **event.data})
    return EXIT_OK


@handler("serve")
def _serve(args: argparse.Namespace) -> int:
    from pot.config import ProvenanceConfig

    try:
        import uvicorn

        from pot.server import app as server_app
    except ImportError as exc:
        raise UsageError(f"pot serve needs the server extra: pip install 'pot-provenance[server]' ({exc.name} is "
                         "missing)") from None
    if not 0 < args.port < 65536:
        raise UsageError("--port must be 1 to 65535")
    if args.workers < 1 or args.max_body < 1 or args.burst < 1 or not args.rate > 0:
        raise UsageError("--workers, --max-body, --rate and --burst must be positive")
    if args.anchor_interval is not None and not 0 < args.anchor_interval < 10**7:
        raise UsageError("--anchor-interval must be a positive number of seconds")
    database = _database(args)
    if args.workers > 1 and database is None:
        raise UsageError("--workers above 1 needs --database (PostgreSQL): a SQLite store serves one process")
    root = _store_dir(args)
    settings = server_app.ServerSettings(root=root, database=database,
                                         key_file=ProvenanceConfig().resolve_key_file(root), private=args.private,
                                         max_body=args.max_body, rate=args.rate, burst=args.burst,
                                         anchor_interval=args.anchor_interval)
    # The store and key are opened here first, so a bad URL or a missing key is one line now, not a crash per worker.
    app = server_app.create_app(settings)
    print(f"pot: serving on http://{args.host}:{args.port} (API schema at /openapi.json)", file=sys.stderr)
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)
    else:
        # uvicorn starts each worker with the factory, which reads the settings from the environment it inherits
        os.environ.update(server_app.settings_environment(settings))
        uvicorn.run("pot.server.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="warning", server_header=False)
    return EXIT_OK


@handler("token")
def _token(args: argparse.Namespace) -> int:
    from pot.server import tokens

    with _open_store(args) as store:
        if args.token_verb == "create":
            secret, info = tokens.create_token(store, args.scope, write=args.write)
            rights = "read and write" if info.write else "read"
            print(f"pot: token {info.token_id} ({rights}, models starting with {info.scope!r}); it is shown "
                  "only this once", file=sys.stderr)
            _emit(args, secret, {**info.to_json(), "token": secret})
        elif args.token_verb == "revoke":
            info = tokens.revoke_token(store, args.token_id)
            _emit(args, f"token {info.token_id} revoked at {info.revoked}", info.to_json())
        else:
            found = tokens.list_tokens(store)
            lines = [f"{t.token_id}  {'write' if t.write else 'read '}  scope {t.scope!r}  created {t.created}"
                     + (f"  revoked {t.revoked}" if t.revoked else "") for t in found]
            _emit(args, "\n".join(lines) or "no tokens", [t.to_json() for t in found])
    return EXIT_OK


# --- the read verbs against a server (pot --server URL VERB) ----------------------------------------------------

REMOTE_VERBS = ("proof", "history", "runs list", "runs show", "runs export-config", "runs compare", "lineage")


def _remote(args: argparse.Namespace) -> int:
    """A read verb asked of a ``pot serve``: the same output (text and --json) and exit codes as the local verb."""
    from pot._internal import render
    from pot.log.records import check_name, record_fields
    from pot.server import remote

    name = args.verb + (f" {args.runs_verb}" if args.verb == "runs" and args.runs_verb else "")
    if name not in REMOTE_VERBS:
        raise UsageError(f"--server works with the read verbs ({', '.join(REMOTE_VERBS)}), not {name}")
    if getattr(args, "database", None):
        raise UsageError("--server and --database name two different places to read from: give one")
    server = remote.Server(args.server)
    if name == "proof":
        from pot.log.proof import ProvenanceProof

        output = _output(args, args.output)
        model_id = check_name(args.model_id, "model_id")
        data = server.get_bytes(["v1", "models", model_id, "proof"], [("record", r) for r in args.record or ()])
        try:
            proof = ProvenanceProof.from_json(data)
        except FormatError as exc:
            raise remote.ServerError(f"the server {server.name} sent no valid proof: {exc}") from None
        proof.save(output, **_protected(args))
        _emit_proof(args, proof, output)
    elif name == "history":
        plot = None
        if args.plot:
            if not args.model_id:
                raise UsageError("--plot needs --model-id: one model's metrics are plotted")
            plot = _output(args, args.plot)
            render.plot_format(plot)
        if not args.model_id:
            models = [(m["model_id"], m["size"]) for m in server.get(["v1", "models"])["models"]]
            _emit(args, render.table(("model id", "records"), models) if models else "the store has no records yet",
                  [{"model_id": m, "records": n} for m, n in models])
            return EXIT_OK
        model_id = check_name(args.model_id, "model_id")
        records = remote.records_from_json(server.get(["v1", "models", model_id, "history"]), "history")
        text = render.history(model_id, records)
        if plot is not None:
            render.plot_metrics(model_id, records, plot, **_protected(args))
            text += f"\nplotted to {args.plot}"
        _emit(args, text, [{"kind": r.KIND, **record_fields(r)} for r in records])
    elif name == "runs list":
        if args.n < 1:
            raise UsageError("-n must be at least 1")
        filters = [(k, v) for k, v in (("kind", args.kind), ("status", args.status)) if v is not None]
        runs: list[dict[str, Any]] = []
        while len(runs) < args.n:  # pages of at most 1,000, as the server hands them out
            want = min(1000, args.n - len(runs))
            page = server.get(["v1", "runs"], [*filters, ("limit", str(want)), ("offset", str(len(runs)))])["runs"]
            runs += page
            if len(page) < want:
                break
        _emit(args, render.runs_table(runs), runs)
    elif name == "runs show":
        shown = server.get(["v1", "runs", check_name(args.run_id, "run id")])
        records = remote.records_from_json(shown.get("records"), "run records")
        run = {k: v for k, v in shown.items() if k not in ("started_data", "records")}
        _emit(args, render.run_details(run, shown["started_data"], records),
              {**run, "started_data": shown["started_data"],
               "records": [{"kind": r.KIND, **record_fields(r)} for r in records]})
    elif name == "runs export-config":
        from pot._internal import files

        out = _output(args, args.out)
        exported = server.get(["v1", "runs", check_name(args.run_id, "run id"), "config"])
        files.write_output(out, json.dumps(exported, indent=1, ensure_ascii=False) + "\n", **_protected(args))
        _emit(args, f"wrote the config of {args.run_id} to {args.out}", exported)
    elif name == "runs compare":
        comparison = server.get(["v1", "runs", check_name(args.run_a, "run id"), "compare",
                                 check_name(args.run_b, "run id")])
        _emit(args, render.run_comparison(comparison), comparison)
    else:
        node_id = check_name(args.node_id, "lineage id")
        graph = remote.lineage_graph(server.get(["v1", "lineage", node_id]), "lineage")
        if args.dot:
            print(graph.to_dot(node_id))
            return EXIT_OK
        _emit(args, render.lineage(graph, node_id), graph.to_json(node_id))
    return EXIT_OK


# --- entry point -----------------------------------------------------------------------------------------------


def exit_code_for(exc: PotError) -> int:
    if isinstance(exc, VerificationError):
        return EXIT_VERIFY_FAILED
    if isinstance(exc, UsageError | FormatError):
        return EXIT_USAGE
    if isinstance(exc, StoreError | KeyringError | AnchorError):
        return EXIT_ENVIRONMENT
    return EXIT_ENVIRONMENT


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="pot: %(message)s")
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if getattr(args, "server", None) is not None:
            return _remote(args)
        return _handlers[args.verb](args)
    except PotError as exc:
        from pot._internal.render import safe

        print(f"pot: error: {safe(exc)}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print("pot: interrupted; everything acknowledged before this is stored", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # after BrokenPipeError, which is one
        # The file system refused something pot did not foresee (a full disk, an I/O error): the environment's
        # refusal, said in one line, not a crash.
        if os.environ.get("POT_DEBUG"):
            raise
        from pot._internal.render import safe

        where = f" ({safe(exc.filename)})" if exc.filename else ""
        print(f"pot: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except Exception as exc:
        if os.environ.get("POT_DEBUG"):
            raise
        print(f"pot: internal error: {type(exc).__name__}: {exc} (a bug in pot; set POT_DEBUG=1 for the "
              "traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
