"""Presets shipped inside the package (`fedmkt run --preset NAME`)."""
