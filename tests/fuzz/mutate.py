"""Structural mutations of a JSON document, and the outcome of feeding one to pot's parser and verifier.

A mutation picks a node of the parsed document by its path and replaces it (with a value of another type, an edge
value, or a variant of itself: the same integer written as a float, hex in upper case or with whitespace, a string
with a zero-width, bidirectional or control character ...), deletes it, duplicates or reorders array elements, or
adds an unknown key. Mutations of the raw text add what a parsed document cannot hold: integers of thousands of
digits, 1e400, nesting 500-1000 deep, bytes that are not UTF-8, a lone surrogate, a key written twice.

Choices go through a ``Choose`` function, so the same mutators run under hypothesis (which shrinks a failing
example) and under a seeded random generator (the survey, which lists every distinct failure).
"""

from __future__ import annotations

import json
import re
import reprlib
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pot import ProvenanceProof, verify_proof
from pot.errors import PotError, VerificationError

T = TypeVar("T")
Path = tuple[str | int, ...]
Choose = Callable[[Sequence[T], str], T]

# The verifier turns an exception inside a check into a failed check with this message (fail closed). Such a check
# has not checked anything: it crashed, and the bug behind it is reported like an escaped exception.
BROKEN_CHECK = "the proof broke this check ("

HANG_SECONDS = 20.0  # far above the few milliseconds a proof takes here, even on a loaded 2-core machine


class Hang(BaseException):  # not an Exception, so that a catch-all `except Exception` cannot swallow it
    """Parsing or verifying one input took longer than ``HANG_SECONDS``."""


class no_hang:  # a context manager, named like a function
    """Raise :class:`Hang` in the main thread if the block runs longer than ``seconds`` (SIGALRM)."""

    def __init__(self, seconds: float = HANG_SECONDS) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        def alarm(signum: int, frame: Any) -> None:
            raise Hang(f"no result after {self.seconds} s")

        self.previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


# --- raw JSON tokens a parsed document cannot hold --------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text (possibly invalid) spliced into the serialised document in place of a value."""

    text: bytes
    label: str


def deep_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


RAW_TOKENS: tuple[Raw, ...] = (
    Raw(b"1" + b"0" * 4300, "an integer of 4,301 digits"),
    Raw(b"-" + b"9" * 5000, "a negative integer of 5,000 digits"),
    Raw(b"1e400", "1e400"),
    Raw(b"-1e400", "-1e400"),
    Raw(b"1E+2", "1E+2"),
    Raw(b"-0.0", "-0.0"),
    Raw(b"0.1e1", "0.1e1"),
    Raw(b"NaN", "the NaN token"),
    Raw(b"-Infinity", "the -Infinity token"),
    Raw(deep_array(200), "arrays nested 200 deep"),
    Raw(deep_array(492), "arrays nested 492 deep"),
    Raw(deep_array(700), "arrays nested 700 deep"),
    Raw(deep_array(985), "arrays nested 985 deep"),
    Raw(deep_array(1000), "arrays nested 1,000 deep"),
    Raw(deep_object(500), "objects nested 500 deep"),
    Raw(b'"\xff\xfe"', "a string of bytes that are not UTF-8"),
    Raw(b'"a\xc3("', "a string with a broken UTF-8 sequence"),
    Raw(b'"\xed\xa0\x80"', "a UTF-8-encoded surrogate"),
    Raw(b'"\\ud800"', "a lone surrogate escape"),
    Raw(b'"\\u0000"', "an escaped NUL"),
    Raw(b'{"k":1,"k":2}', "an object with a duplicate key"),
    Raw(b"[1,]", "a trailing comma"),
    Raw(b"'x'", "a single-quoted string"),
)

# --- edge values of the JSON data model --------------------------------------------------------------------------

HUGE = 10**4400 + 7  # beyond the 4,300 digits int() and str() convert by default


def nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_dict(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


COMMON_VALUES: tuple[Any, ...] = (
    None, True, False, 0, 1, -1, 2**53 - 1, 2**53, -(2**53), 2**64, 0.5, -0.0, 6.0, 1e308, 5e-324,
    "", " ", "0", "null", "\u200b", "\u202e", "\x1b[31m", "\x00", "NaN", "Infinity", "x" * 100_000,
    [], {}, [None], {"": None},
)

# Values that a parsed document (a Mapping handed to from_json) can hold but JSON text cannot.
PYTHON_ONLY_VALUES: tuple[Any, ...] = (HUGE, -HUGE, float("inf"), float("-inf"), float("nan"))

DEEP_VALUES: tuple[int, ...] = (200, 492, 700, 985, 1000)

_HEX = re.compile(r"(0x)?[0-9a-f]+")


def string_variants(text: str) -> list[str]:
    out = [text + "x", text[:-1], text + text, text + "\u200b", "\u200b" + text, "\u202e" + text,
           text + "\u2066", text + "\x1b[2J", text + "\x7f", text + "\n", " " + text, text + " ", "\ufeff" + text,
           text + "\ud800", text.upper(), text.lower(), text.title()]
    if len(text) < 10_000:  # long, not unbounded: mutations can pick the same node again
        out.append(text * 50)
    if _HEX.fullmatch(text):
        middle = len(text) // 2
        out += [text.upper(), text[:middle] + " " + text[middle:], text[:middle] + "\t" + text[middle:],
                " ".join(text[i:i + 2] for i in range(0, len(text), 2)), text + "\n", "0x" + text,
                text[2:] if text.startswith("0x") else text]
    return out


def number_variants(value: int | float, *, python_only: bool) -> list[Any]:
    if isinstance(value, int) and value.bit_length() > 1000:  # a huge integer put there by an earlier mutation
        return [0, 6.0]
    out: list[Any] = [value + 1, value - 1, -value, str(value), value * 2**60]
    if isinstance(value, int):
        out += [float(value), value + 2**53] + ([HUGE, -HUGE] if python_only else [])
    elif value.is_integer() and abs(value) < 2**53:
        out += [int(value)]
    return out


def variants(value: Any, *, python_only: bool) -> list[Any]:
    """Values to put where ``value`` is: other types, edge values, and near-copies of it."""
    out: list[Any] = list(COMMON_VALUES)
    if python_only:
        out += PYTHON_ONLY_VALUES
        out += [nested_list(d) for d in DEEP_VALUES] + [nested_dict(d) for d in DEEP_VALUES]
    if isinstance(value, bool):
        out += [not value, int(value), str(value).lower()]
    elif isinstance(value, int | float):
        out += number_variants(value, python_only=python_only)
    elif isinstance(value, str):
        out += string_variants(value)
    elif isinstance(value, list):
        out += [[], list(reversed(value)), value[1:], value[:-1], value + value[:1], [value], value * 2]
    elif isinstance(value, dict):
        out += [{}, [value], {**value, "unknown": 1}, {**value, "": None}]
    return [v for v in out if not _identical(v, value)]


def _identical(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a is b or (not isinstance(a, dict | list) and a == b))


# --- paths into a document ---------------------------------------------------------------------------------------


MAX_PATH = 24  # deeper than any proof's structure; nesting put in by a mutation is not walked into


def nodes(document: Any) -> list[tuple[Path, Any]]:
    """Every node below the root, containers included, with its path (depth-first, in document order)."""
    out: list[tuple[Path, Any]] = []
    stack: list[tuple[Path, Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if path:
            out.append((path, value))
        if len(path) >= MAX_PATH:
            continue
        if isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))
    return out


def get(document: Any, path: Path) -> Any:
    for step in path:
        document = document[step]
    return document


def update(document: Any, path: Path, change: Callable[[Any], Any]) -> Any:
    """A copy of ``document`` whose containers along ``path`` are copies, with ``change`` applied to the copy of
    the parent of ``path``; everything else is shared with the original."""
    root = document.copy()
    parent = root
    for step in path[:-1]:
        parent[step] = parent[step].copy()
        parent = parent[step]
    change(parent)
    return root


def set_value(document: Any, path: Path, value: Any) -> Any:
    def change(parent: Any) -> None:
        parent[path[-1]] = value
    return update(document, path, change)


def show(path: Path) -> str:
    return "/" + "/".join(str(step) for step in path)


# --- mutations ---------------------------------------------------------------------------------------------------


@dataclass
class Mutant:
    """A mutated document: the parsed value, raw splices for its serialisation, and what was done."""

    document: Any
    splices: dict[str, bytes] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    text_edit: Callable[[bytes], bytes] | None = None

    def serialise(self) -> bytes:
        text = json.dumps(self.document, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")
        for marker, raw in self.splices.items():
            text = text.replace(json.dumps(marker).encode(), raw)
        return self.text_edit(text) if self.text_edit else text

    @property
    def description(self) -> str:
        return "; ".join(self.steps)


def _marker(mutant: Mutant) -> str:
    return f"@@pot-fuzz-splice-{len(mutant.splices)}@@"


def mutate_once(mutant: Mutant, choose: Choose[Any], *, raw: bool) -> None:
    """Apply one structural mutation to ``mutant``; ``raw``: the document will be serialised, so raw tokens and
    duplicate keys are possible, and values JSON text cannot hold are not."""
    candidates = nodes(mutant.document)
    path, value = choose(candidates, "node")
    operations = ["replace", "replace", "replace", "delete"]
    if isinstance(get(mutant.document, path[:-1]), list):
        operations += ["duplicate", "swap"]
    if isinstance(value, dict):
        operations += ["unknown-key"]
    if isinstance(value, list) and len(value) > 1:
        operations += ["reverse"]
    if raw:
        operations += ["raw-token", "raw-token"]
        if isinstance(get(mutant.document, path[:-1]), dict):
            operations += ["duplicate-key"]
    operation = choose(operations, "operation")
    where = show(path)
    if operation == "replace":
        new = choose(variants(value, python_only=not raw), "value")
        mutant.document = set_value(mutant.document, path, new)
        mutant.steps.append(f"{where} := {_short(new)}")
    elif operation == "delete":
        def delete(parent: Any) -> None:
            del parent[path[-1]]
        mutant.document = update(mutant.document, path, delete)
        mutant.steps.append(f"delete {where}")
    elif operation == "duplicate":
        def duplicate(parent: Any) -> None:
            parent.insert(path[-1], parent[path[-1]])
        mutant.document = update(mutant.document, path, duplicate)
        mutant.steps.append(f"duplicate {where}")
    elif operation == "swap":
        def swap(parent: Any) -> None:
            i = path[-1]
            j = (i + 1) % len(parent)
            parent[i], parent[j] = parent[j], parent[i]
        mutant.document = update(mutant.document, path, swap)
        mutant.steps.append(f"swap {where} with its next sibling")
    elif operation == "reverse":
        mutant.document = set_value(mutant.document, path, list(reversed(value)))
        mutant.steps.append(f"reverse {where}")
    elif operation == "unknown-key":
        key = choose(["unknown", "", "id", "signature", "Type", "type\u200b", "inclusion"], "key")
        mutant.document = set_value(mutant.document, path, {**value, key: choose([None, 1, "x", {}], "unknown")})
        mutant.steps.append(f"add key {key!r} to {where}")
    elif operation == "raw-token":
        token = choose(RAW_TOKENS, "token")
        marker = _marker(mutant)
        mutant.splices[marker] = token.text
        mutant.document = set_value(mutant.document, path, marker)
        mutant.steps.append(f"{where} := {token.label}")
    elif operation == "duplicate-key":
        # Write the key a second time (after the first, same or another value): a strict reader must refuse it.
        marker = _marker(mutant)
        mutant.splices[marker] = json.dumps(path[-1], ensure_ascii=False).encode("utf-8", "surrogatepass")
        second = choose([value, None, "other"], "second value")
        mutant.document = update(mutant.document, path, lambda parent: parent.__setitem__(marker, second))
        mutant.steps.append(f"write key {where} twice")


def text_mutation(mutant: Mutant, choose: Choose[Any]) -> None:
    """An edit of the serialised text as a whole (after any structural mutation)."""
    edits: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("append trailing data", lambda text: text + b"\n{}"),
        ("prefix a byte order mark", lambda text: b"\xef\xbb\xbf" + text),
        ("truncate", lambda text: text[: len(text) * 2 // 3]),
        ("append a NUL byte", lambda text: text + b"\x00"),
        ("wrap in an array", lambda text: b"[" + text + b"]"),
    ]
    label, edit = choose(edits, "text edit")
    mutant.text_edit = edit
    mutant.steps.append(label)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 4, 60, 60, 6, 6


def _short(value: Any) -> str:
    """A short description of a value: never the full repr of one nested 1,000 deep or of thousands of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return f"<integer of about {value.bit_length() * 30103 // 100000} digits>"  # str() of it may raise
    if isinstance(value, list | dict) and value:
        depth, inner = 1, value
        while isinstance(inner, list | dict) and inner:
            inner = inner[0] if isinstance(inner, list) else next(iter(inner.values()))
            depth += 1
        if depth > 20:
            return f"<{type(value).__name__} nested {depth} deep>"
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:60]) + f"... ({len(value)} characters)"
    try:
        return _REPR.repr(value)
    except (ValueError, RecursionError):  # an integer of thousands of digits inside, or nesting deep down
        return f"<{type(value).__name__} holding a huge integer or deep nesting>"


# --- comparing documents: did the mutation change a value? -------------------------------------------------------


def json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values: the same number whether written 6 or 6.0 (RFC 8785 reads both as one double), but a
    boolean is not a number and a string is not a number. NaN equals nothing, so a NaN put in always counts as a
    change. Integer-typed fields written as floats are tested separately (test_integer_fields_written_as_floats)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, bool) or isinstance(y, bool):
            if type(x) is not type(y) or x != y:
                return False
        elif isinstance(x, int | float) and isinstance(y, int | float):
            if x != y:
                return False
        elif isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif type(x) is not type(y) or x != y:
            return False
    return True


def reread(text: bytes) -> Any:
    """What a permissive reader makes of a mutated text that pot accepted (for the "did it change" question)."""
    try:
        return json.loads(text.decode("utf-8"))
    except ValueError:
        return _NOT_JSON


_NOT_JSON = object()


# --- outcomes ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    stage: str  # "parse" (from_json refused it), "verify" (a check failed), or "verified"
    check: str | None = None
    message: str = ""

    @property
    def verified(self) -> bool:
        return self.stage == "verified"


class BrokenCheck(AssertionError):
    """A verifier check failed only because an exception broke it (see BROKEN_CHECK)."""


def outcome(data: bytes | dict[str, Any]) -> Outcome:
    """Parse and verify ``data`` (raw bytes, or a parsed document); return how it ended.

    A PotError is an outcome; anything else propagates, and so does :class:`Hang`. A check that broke on the input
    raises :class:`BrokenCheck`.
    """
    with no_hang():
        try:
            proof = ProvenanceProof.from_json(data)
        except PotError as exc:
            return Outcome("parse", getattr(exc, "check", None), str(exc))
        try:
            verify_proof(proof)
        except VerificationError as exc:
            report = exc.report
            broken = [c for c in (report.checks if report is not None else []) if c.detail.startswith(BROKEN_CHECK)]
            if broken:
                raise BrokenCheck("; ".join(f"check {c.name!r}: {c.detail}" for c in broken)) from None
            return Outcome("verify", exc.check, str(exc))
    return Outcome("verified")


def iter_leaves(document: Any) -> Iterator[tuple[Path, Any]]:
    for path, value in nodes(document):
        if not isinstance(value, dict | list):
            yield path, value
