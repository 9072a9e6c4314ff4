"""``fedmkt bench``: one name per option across its commands."""

from collections import defaultdict

import typer

from fedmkt.bench.commands import app


def _options() -> dict[str, dict[str, tuple[str, ...]]]:
    """command -> parameter -> its flags, from the click commands typer builds."""
    group = typer.main.get_command(app)
    return {name: {p.name: tuple(p.opts) for p in command.params if p.opts and p.opts[0].startswith("--")}
            for name, command in group.commands.items()}


def test_a_setting_has_the_same_flag_in_every_bench_command():
    flags = defaultdict(set)
    for options in _options().values():
        for name, opts in options.items():
            flags[name].add(opts)
    assert {name: opts for name, opts in flags.items() if len(opts) > 1} == {}


def test_batch_sizes_are_batch_size_as_in_the_config():
    batch = {(command, opts) for command, options in _options().items() for opts in options.values()
             if any("batch" in flag for flag in opts)}
    assert {command for command, _ in batch} == {"step", "eval", "precision"}
    assert {opts for _, opts in batch} == {("--batch-size",)}
