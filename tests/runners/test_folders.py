"""Names that become folders never lead outside the run folder, and never fail with a traceback."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from fedmkt.config import parse_config
from fedmkt.errors import FedMKTError
from fedmkt.runners.folders import check_names, default_run_dir, name_problem, safe_label

BASE = {"task": "tiny_qa", "server": {"model": "a"}, "clients": [{"model": "b"}]}
NOW = datetime(2025, 1, 2, 3, 4, 5)


@pytest.mark.parametrize("name, label", [
    ("tiny-heterogeneous", "tiny-heterogeneous"), ("../../x", "x"), ("a\0b", "a_b"), ("/etc/passwd", "etc_passwd"),
    ("..", "run"), ("", "run"), ("x" * 500, "x" * 80), ("é t/é", "t"),
])
def test_the_default_folder_stays_under_runs(name, label):
    folder = default_run_dir(name, NOW)
    assert folder == Path("runs") / f"{label}-20250102-030405"
    assert folder.parent == Path("runs") and ".." not in folder.parts
    assert safe_label(name) == label


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "a\0b", "a\nb", ".", "..", " ", "x" * 201])
def test_a_name_that_cannot_be_one_folder_is_named(name):
    assert name_problem(name) is not None


@pytest.mark.parametrize("name", ["tiny-homogeneous", "client 1", "é", "x" * 200, "a.b"])
def test_ordinary_names_pass(name):
    assert name_problem(name) is None


def test_suite_and_participant_names_are_refused_in_one_line():
    suite = [parse_config({**BASE, "name": "../esc"}, "t"), parse_config({**BASE, "name": "ok"}, "t")]
    with pytest.raises(FedMKTError, match=r"^'name' '../esc' holds a '/'"):
        check_names(suite)
    check_names(suite[:1])  # one experiment: its name labels nothing but the run folder itself
    participant = parse_config({**BASE, "clients": [{"model": "b", "name": "../../p"}]}, "t")
    with pytest.raises(FedMKTError, match=r"^'clients.0.name' '../../p' holds a '/'"):
        check_names([participant])
    in_suite = [participant, parse_config({**BASE, "name": "other"}, "t")]
    with pytest.raises(FedMKTError, match=r"^experiment 'experiment': 'clients.0.name'"):
        check_names(in_suite)
