"""One process per run folder: a second one is refused in one line naming the holder's pid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fedmkt.errors import FedMKTError
from fedmkt.runners.lock import held

HOLDER = Path(__file__).with_name("lock_holder.py")


def hold_from_another_process(run_dir: Path) -> subprocess.Popen:
    """A child process that holds ``run_dir``'s lock until its stdin is closed."""
    child = subprocess.Popen([sys.executable, str(HOLDER), str(run_dir)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "held\n"
    return child


def release(child: subprocess.Popen) -> None:
    child.stdin.close()
    child.wait(timeout=30)


def test_a_folder_held_by_another_process_is_refused_naming_its_pid(tmp_path):
    child = hold_from_another_process(tmp_path)
    try:
        with pytest.raises(FedMKTError) as refused, held(tmp_path):
            pass
        assert str(refused.value) == (f"{tmp_path} is in use: another fedmkt process (pid {child.pid}) is running "
                                      f"it; wait for it to end, or stop it, then resume")
    finally:
        release(child)
    with held(tmp_path):  # the lock went with the process
        assert (tmp_path / ".lock").read_text() == f"{__import__('os').getpid()}\n"


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    child = hold_from_another_process(tmp_path)
    child.kill()
    child.wait(timeout=30)
    with held(tmp_path):
        pass


def test_a_path_that_cannot_be_a_folder_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FedMKTError, match=r"file is a file, not a folder; pass a new or empty folder"), \
            held(tmp_path / "file"):
        pass
    with pytest.raises(FedMKTError, match=r"cannot use .*file/sub as a run folder: Not a directory"), \
            held(tmp_path / "file" / "sub"):
        pass
