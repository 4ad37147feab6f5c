"""The training script's entry point for a replay: ``FILE.py:FUNCTION`` or ``MODULE:FUNCTION``.

Replay runs the training script's own code (its model, optimizer, data order and step), so the verifier names it;
loading it executes that script's top level, as running the script would. The function takes the run's recorded
configuration and returns a program (:class:`pot.replay.torch.ReplayProgram`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pot.errors import UsageError

__all__ = ["load_entry"]


def load_entry(spec: str) -> Callable[..., Any]:
    """The function ``spec`` names, or a one-line :class:`UsageError`."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise UsageError(f"--entry {spec!r}: expected FILE.py:FUNCTION or MODULE:FUNCTION")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise UsageError(f"--entry: no file {where}")
            module_name = f"_pot_replay_entry_{abs(hash(str(path.resolve())))}"
            loader = importlib.util.spec_from_file_location(module_name, path)
            if loader is None or loader.loader is None:
                raise UsageError(f"--entry: cannot load {where}")
            module = importlib.util.module_from_spec(loader)
            sys.modules[module_name] = module  # dataclasses and pickling look their module up by name
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except UsageError:
        raise
    except ImportError as exc:
        raise UsageError(f"--entry {spec}: cannot import it: {exc}") from None
    except Exception as exc:  # the script's own top level failed: say so in one line, not a traceback
        raise UsageError(f"--entry {spec}: loading it raised {type(exc).__name__}: {exc}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise UsageError(f"--entry {spec}: {where} has no function {name!r}")
    return function  # type: ignore[no-any-return]
