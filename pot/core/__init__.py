"""The seed toolkit's package path (``pot.core``), kept so its users' imports keep working."""
