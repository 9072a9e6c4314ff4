"""GEM XSum: article prompt cut to a word budget, the summary as reference, one pool."""

from __future__ import annotations

import pytest

from fedmkt.data.tasks import get_task
from fedmkt.data.tasks.xsum import format_xsum, load_xsum


def test_articles_are_cut_and_summaries_kept(write_bigbench_task):
    long_article = " ".join(f"w{i}" for i in range(1000))
    write_bigbench_task("gem/xsum", {"name": "xsum", "examples": [
        {"input": "Skiing season was good.\nMore snow fell.", "target": " Ski resorts had a record year. ",
         "comment": "xsum-test-0"},
        {"input": long_article, "target": "Words.", "comment": "xsum-test-1"},
        {"input": "Skiing season was good.\nMore snow fell.", "target": "dup", "comment": "xsum-test-2"},
    ]})  # fmt: skip
    task = get_task("xsum")
    assert task.train_split == task.eval_split == "test"
    first, second = task.load("test")
    assert first.uid == "xsum/test/xsum-test-0"
    assert first.prompt == (
        "Summarize the following article in one sentence.\n\n"
        "Article: Skiing season was good. More snow fell.\nSummary:"
    )
    assert (
        first.references == ("Ski resorts had a record year.",)
        and first.target == " Ski resorts had a record year."
    )
    assert second.prompt.split("Article: ")[1].split() == [f"w{i}" for i in range(300)] + ["Summary:"]
    assert len(load_xsum("test", max_article_words=None)[1].prompt.split()) > 1000
    assert format_xsum("a b c", max_words=2).endswith("Article: a b\nSummary:")


@pytest.mark.real
@pytest.mark.bigbench
def test_real_xsum_has_1001_rows():
    task = get_task("xsum")
    examples = task.load("test")
    assert len(examples) == 1001 and len({e.uid for e in examples}) == 1001
    assert all(e.references and e.target.strip() and e.prompt.endswith("\nSummary:") for e in examples)
