"""Fixtures for the asset tests: a private FEDMKT_HOME and a local, offline package index."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``$FEDMKT_HOME``; pip sees only ``<tmp>/index`` (a find-links folder), never the network."""
    root = tmp_path / "fedmkt-home"
    monkeypatch.setenv("FEDMKT_HOME", str(root))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    (tmp_path / "index").mkdir()
    return root


@pytest.fixture
def index(home: Path) -> Path:
    """The find-links folder pip downloads from in these tests."""
    return home.parent / "index"
