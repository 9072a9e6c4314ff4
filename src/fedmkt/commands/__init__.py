"""CLI commands: one module per ``fedmkt`` sub-command, a plain function that ``fedmkt.cli`` registers."""
