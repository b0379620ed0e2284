"""CLI commands, one module per concern; each module exposes a `commands` list."""
