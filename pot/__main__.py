"""``python -m pot``: the ``pot`` command, for environments whose scripts directory is not on PATH."""

from pot.cli import main

raise SystemExit(main())
