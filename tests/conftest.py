"""Shared test settings: no network, deterministic threads; a broken extra fails, the bigbench tier.

Extras: the tests of an optional extra skip themselves (``pytest.importorskip``) where it is not
installed. Where it should be, such a skip would hide a broken install behind a green run, so
it becomes a failure. An extra is required when ``FEDMKT_REQUIRE_EXTRAS`` names it (``make``
sets ``flower``: its install always includes it) or when its distribution is installed. The
import is tried only once a test skips, so runs without skips pay nothing.

bigbench tier: tests marked ``bigbench`` check the real bigbench 1.0.0 data, which no package
index serves any more (``fedmkt assets fetch bigbench`` says how to supply it). Without it they
are deselected, and a line at the end says so, rather than shown as skips that can never run;
the loaders themselves are tested on a small sdist in the same layout (tests/data/tasks).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Generator
from functools import cache
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REQUIRE_EXTRAS = "FEDMKT_REQUIRE_EXTRAS"
# extra -> modules its tests import
EXTRA_MODULES = {"flower": ("flwr",), "tracking": ("mlflow", "tensorboard"), "privacy": ("opacus",)}
BIGBENCH_DESELECTED = pytest.StashKey[int]()


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _named_extras() -> set[str]:
    return {e.strip() for e in os.environ.get(REQUIRE_EXTRAS, "").split(",") if e.strip()}


def pytest_configure(config: pytest.Config) -> None:
    unknown = _named_extras() - set(EXTRA_MODULES)
    if unknown:
        raise pytest.UsageError(f"{REQUIRE_EXTRAS} names unknown extras {sorted(unknown)}; known: "
                                f"{sorted(EXTRA_MODULES)}")


@cache
def broken_extras() -> tuple[str, ...]:
    """One line per required extra whose module does not import (see the module docstring)."""
    named = _named_extras()
    problems = []
    for extra, modules in EXTRA_MODULES.items():
        installed = [m for m in modules if _installed(m)]  # a module's distribution of the same name
        if extra in named:
            why = f"{REQUIRE_EXTRAS} names it"
        elif installed:
            why = f"the {installed[0]} distribution is installed"
        else:
            continue
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as err:  # whatever the failure, the install is broken
                problems.append(f"the {extra} extra is required ({why}) but `import {module}` fails: "
                                f"{type(err).__name__}: {err}")
    return tuple(problems)


def _fail_instead_of_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and broken_extras():
        report.outcome = "failed"
        report.longrepr = "; ".join(broken_extras()) + " (this test would have been skipped)"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    _fail_instead_of_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    _fail_instead_of_skip(report)
    return report


@pytest.hookimpl(trylast=True)  # after -m/-k, so only tests that would have run are counted
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tier = [item for item in items if item.get_closest_marker("bigbench")]
    if not tier:
        return
    from fedmkt.assets.fetch import is_present

    if is_present("bigbench"):
        return
    config.hook.pytest_deselected(items=tier)
    items[:] = [item for item in items if not item.get_closest_marker("bigbench")]
    config.stash[BIGBENCH_DESELECTED] = len(tier)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    deselected = config.stash.get(BIGBENCH_DESELECTED, 0)
    if deselected:
        terminalreporter.write_line(
            f"{deselected} bigbench-tier tests deselected: they need the bigbench 1.0.0 data, which no index "
            "serves (`fedmkt assets fetch bigbench` says how to supply it)"
        )
