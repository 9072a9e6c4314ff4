"""Helpers shared by the task loaders: choice continuations, references, stable hashes."""

from __future__ import annotations

import pytest

from fedmkt.data.tasks.base import clean_references, mc_choices, stable_hash
from fedmkt.errors import FedMKTError


def test_choices_become_space_prefixed_continuations():
    assert mc_choices(["yes", "no"], 1, "f") == ((" yes", " no"), 1)
    assert mc_choices(["  two  words "], 0, "f") == ((" two words",), 0)


def test_duplicate_choices_are_merged_and_gold_follows_its_text():
    # CommonsenseQA lists "coastal cities" twice; gold pointing at either copy means the same answer
    choices = ["new york", "coastal cities", "city", "coastal cities", "boston"]
    assert mc_choices(choices, 3, "f") == ((" new york", " coastal cities", " city", " boston"), 1)
    assert mc_choices(choices, 4, "f") == ((" new york", " coastal cities", " city", " boston"), 3)


def test_bad_gold_or_empty_choice_names_the_record():
    with pytest.raises(FedMKTError, match="data.jsonl:3: gold index 2 outside the 2 choices"):
        mc_choices(["a", "b"], 2, "data.jsonl:3")
    with pytest.raises(FedMKTError, match="data.jsonl:4: empty answer choice"):
        mc_choices(["a", " "], 0, "data.jsonl:4")


def test_references_are_stripped_deduplicated_and_never_empty():
    assert clean_references([" Paris. ", "Paris.", "", "  ", "paris"]) == ("Paris.", "paris")


def test_stable_hash_is_fixed_across_runs():
    assert stable_hash("natural_instructions/subtask001/0") == stable_hash(
        "natural_instructions/subtask001/0"
    )
    assert stable_hash("a", "b") != stable_hash("ab")
    assert stable_hash("x") == "11f6ad8ec52a2984"  # sha1("x")[:16], not Python's salted hash()
