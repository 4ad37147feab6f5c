#!/usr/bin/env python3
"""Deploy the ProvenanceRegistry contract: the same as ``pot contract deploy`` (RPC_URL and PRIVATE_KEY from the
environment or .env; the address is saved in the store and printed)."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pot.cli import main

    raise SystemExit(main(["contract", "deploy", *sys.argv[1:]]))
