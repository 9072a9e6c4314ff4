"""Bounded YAML loading: alias bombs, floods, deep nesting and cycles are refused before expansion."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml

from fedmkt.errors import FedMKTError
from fedmkt.safe_yaml import MAX_YAML_CHARS, MAX_YAML_DEPTH, MAX_YAML_NODES, expanded_size, load_yaml


def bomb(levels: int, fan: int = 10, key: str = "seed") -> str:
    """A config whose ``key`` is an alias bomb: level i lists level i-1 ``fan`` times (fan**levels leaves)."""
    lines = ["task: tiny_qa", "server: {model: tiny-llama-unigram}", "clients: [{model: tiny-gpt2-bpe}]",
             "x0: &a0 [" + ", ".join(["lol"] * fan) + "]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels + 1)]
    return "\n".join([*lines, f"{key}: *a{levels}"]) + "\n"


def _count(value: object) -> tuple[int, int]:
    """(values, scalar characters) of a constructed object, walking every shared reference again."""
    if isinstance(value, dict):
        parts = [_count(part) for pair in value.items() for part in pair]
    elif isinstance(value, list):
        parts = [_count(item) for item in value]
    else:
        return 1, len(str(value))
    return 1 + sum(p[0] for p in parts), sum(p[1] for p in parts)


@pytest.mark.parametrize("text", [
    bomb(1), bomb(2), bomb(3, fan=4),
    "a: &x {p: 1, q: [2, 3]}\nb: {<<: *x, q: 4}\nc: [*x, *x]\n",
    "name: plain\nlist: [a, bb, ccc]\n",
])
def test_expanded_size_counts_what_the_aliases_stand_for(text):
    """The count made without expanding equals a walk of the constructed object that follows every alias."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    values, chars = expanded_size(node, "t.yaml")
    data = yaml.safe_load(text)
    if "<<" not in text:  # a merge key is counted as written (the constructor flattens it afterwards)
        assert (values, chars) == _count(data)
    assert values > len(text.splitlines())


@pytest.mark.parametrize("levels", [6, 9, 12])
def test_alias_bombs_are_refused_before_expansion(levels):
    with pytest.raises(FedMKTError) as info:
        load_yaml(bomb(levels), "bomb.yaml")
    message = str(info.value)
    assert message.startswith("bomb.yaml: ") and f"more than {MAX_YAML_NODES} values" in message
    assert "\n" not in message and len(message) < 200


def test_a_small_bomb_loads_as_shared_references():
    """Three levels stand for about a thousand values: allowed, and the config check then names the field."""
    data = load_yaml(bomb(3), "b.yaml")
    assert data["seed"][0] is data["seed"][1]  # shared, never copied


def test_nine_and_twelve_level_bombs_fail_in_a_process_with_little_memory():
    """In a child limited to 1 GiB of address space: expansion (gigabytes) would die there, the guard does not."""
    script = textwrap.dedent("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from fedmkt.config import parse_configs
        from fedmkt.errors import FedMKTError
        for text in sys.argv[1:]:
            try:
                parse_configs(text, "bomb.yaml")
            except FedMKTError as error:
                print(error)
    """)
    result = subprocess.run([sys.executable, "-c", script, bomb(9), bomb(12)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all("stands for more than" in line for line in lines), result.stdout


def test_a_long_string_repeated_by_aliases_is_refused_by_its_characters():
    repeats = MAX_YAML_CHARS // 100_000 + 1
    def text(length: int) -> str:
        return f"a: &s {'x' * length}\nb: [{', '.join(['*s'] * repeats)}]\n"
    with pytest.raises(FedMKTError, match="more than 4 MiB of text"):
        load_yaml(text(100_000), "s.yaml")
    assert len(load_yaml(text(1000), "s.yaml")["b"]) == repeats  # the same aliases on a shorter string: fine


def test_a_flood_of_values_without_aliases_is_refused_while_composing():
    text = "clients: [" + "a, " * (MAX_YAML_NODES + 10) + "]\n"
    with pytest.raises(FedMKTError, match=f"holds more than {MAX_YAML_NODES} values"):
        load_yaml(text, "f.yaml")


@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 5_000, 200_000])
def test_deep_nesting_is_refused_without_a_recursion_error(depth):
    for text in ("[" * depth + "]" * depth, "{a: " * depth + "1" + "}" * depth):
        with pytest.raises(FedMKTError, match=f"nested more than {MAX_YAML_DEPTH} levels"):
            load_yaml(text, "d.yaml")


def test_nesting_at_the_limit_loads():
    depth = MAX_YAML_DEPTH - 1
    data = load_yaml("[" * depth + "]" * depth, "d.yaml")
    for _ in range(depth - 1):
        (data,) = data
    assert data == []


def test_an_alias_inside_its_own_anchor_is_refused():
    for text in ("a: &a [*a]\n", "a: &a {b: [1, {c: *a}]}\n"):
        with pytest.raises(FedMKTError, match="refers to a node that contains it"):
            load_yaml(text, "c.yaml")


@pytest.mark.parametrize("text, words", [
    ("a: [1, 2\nb: 3", "while parsing a flow sequence, expected ',' or ']', but got ':' (line 2, column 2)"),
    ("a: 1\n---\nb: 2", "expected a single document in the stream, but found another document (line 2"),
    ("a: '\x00'", "unacceptable character #x0000"),
    ("!!python/object:os.system {}", "could not determine a constructor"),
    ("seed: " + "1" * 5000, "a YAML value cannot be read (Exceeds the limit"),
    ("k" * 300_000 + ": 1", "(line 1, column 300001)"),
])
def test_unreadable_yaml_is_one_short_line(text, words):
    with pytest.raises(FedMKTError) as info:
        load_yaml(text, "y.yaml")
    message = str(info.value)
    assert message.startswith("y.yaml: ") and words in message
    assert "\n" not in message and len(message) < 300


def test_anchors_and_merge_keys_of_ordinary_configs_still_work():
    text = ("base: &client {model: m, train: {lr: 0.1}}\n"
            "clients: [*client, {<<: *client, model: other}, *client]\n")
    data = load_yaml(text, "ok.yaml")
    assert data["clients"][0] == data["clients"][2] == {"model": "m", "train": {"lr": 0.1}}
    assert data["clients"][1] == {"model": "other", "train": {"lr": 0.1}}
    assert load_yaml("", "empty.yaml") is None and load_yaml("# only a comment\n", "c.yaml") is None
