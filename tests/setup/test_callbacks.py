"""A training bar opens one bar per phase on the given callback, advances once per step, and closes."""

from __future__ import annotations

from contextlib import contextmanager

from fedmkt.setup.callbacks import TrainingBar, no_progress


def test_training_bar_drives_one_bar_of_the_tasks_callback():
    opened, updates, closed = [], [], []

    @contextmanager
    def tasks(description, total):
        opened.append((description, total))
        yield lambda advance=1, **fields: updates.append((advance, fields))
        closed.append(description)

    bar = TrainingBar(tasks, "train a")
    bar.update(1, 2.0, 10.0)  # before start: nothing to update
    bar.start(3)
    bar.update(1, 2.5, 99.6)
    bar.update(2, 1.5, 100.2)
    assert closed == []
    bar.finish()
    bar.finish()  # a second finish closes nothing
    assert opened == [("train a", 3)] and closed == ["train a"]
    assert updates == [(1, {"loss": 2.5, "tok/s": 100}), (1, {"loss": 1.5, "tok/s": 100})]


def test_no_progress_yields_an_update_that_accepts_the_bar_fields():
    with no_progress("eval", 5) as update:
        assert update(1, loss=0.5) is None
