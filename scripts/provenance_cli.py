#!/usr/bin/env python3
"""The seed toolkit's command line, ``python scripts/provenance_cli.py VERB ...``: the same as ``pot VERB ...``."""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run from a checkout without installing: put the repository root first on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pot.cli import main

    raise SystemExit(main())
