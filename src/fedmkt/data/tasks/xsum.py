"""XSum single-sentence news summarization, GEM version, from the ``bigbench==1.0.0`` sdist.

The offline stand-in for DialogSum: both are abstractive summarization scored with Rouge-L.
(GEM's ``schema_guided_dialog`` in the same folder is response generation from dialogue
acts, not summarization, so it was not chosen.)

File: ``benchmark_tasks/gem/xsum/task.json``: 1,001 rows of GEM's XSum test set, each with an
article (``input``), one reference summary (``target``) and an id (``comment``). Like RTE it
has one split, exposed as ``"test"`` for both training and evaluation; the partitioner
carves the eval set out first.

Articles run to 64k characters (median 1.5k). They are cut to their first
``max_article_words`` words (default 300, about 400 tokens) so that the instruction and the
summary survive a 512-token cap; the references are never cut.
"""

from __future__ import annotations

import json
from pathlib import Path

from fedmkt.assets.registry import bigbench_tasks_root
from fedmkt.data.example import Example
from fedmkt.data.tasks.base import Task, clean_references, require_path

MAX_ARTICLE_WORDS = 300


def xsum_file() -> Path:
    return bigbench_tasks_root() / "gem" / "xsum" / "task.json"


def format_xsum(article: str, max_words: int | None = MAX_ARTICLE_WORDS) -> str:
    """The summarization prompt, ending right before the summary."""
    words = article.split()
    if max_words is not None and len(words) > max_words:
        words = words[:max_words]
    return f"Summarize the following article in one sentence.\n\nArticle: {' '.join(words)}\nSummary:"


def load_xsum(split: str, max_article_words: int | None = MAX_ARTICLE_WORDS) -> list[Example]:
    """The 1,001 GEM XSum rows as examples (``group`` is ``"xsum"`` for all: no labels)."""
    path = require_path(xsum_file(), "bigbench", "GEM XSum data")
    data = json.loads(path.read_text(encoding="utf-8"))
    examples: list[Example] = []
    seen: set[str] = set()
    for i, record in enumerate(data["examples"]):
        references = clean_references([record["target"]])
        if not references or record["input"] in seen:
            continue
        seen.add(record["input"])
        examples.append(
            Example(
                uid=f"xsum/{split}/{record.get('comment') or i}",
                prompt=format_xsum(record["input"], max_article_words),
                target=" " + references[0],
                references=references,
                group="xsum",
            )
        )
    return examples


def xsum_task(max_article_words: int | None = MAX_ARTICLE_WORDS) -> Task:
    return Task(
        name="xsum",
        kind="generation",
        metric="rougeL",
        description="XSum one-sentence news summaries (GEM, 1,001 rows; stand-in for DialogSum)",
        splits=("test",),
        train_split="test",
        eval_split="test",
        requires="bigbench",
        source="bigbench==1.0.0 benchmark_tasks/gem/xsum",
        loader=lambda split: load_xsum(split, max_article_words),
        data_path=xsum_file,
    )
