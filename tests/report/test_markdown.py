"""The markdown table every report table is built with."""

from __future__ import annotations

import pytest

from fedmkt.report.markdown import cell, markdown_table


def test_a_table_has_its_header_alignment_rule_and_one_line_per_row():
    table = markdown_table(["Method", "Score", "n"], [("FedMKT-SLM", "61.5", 200), ("Standalone", 55.0, 200)], "lrr")
    assert table.splitlines() == [
        "| Method | Score | n |",
        "|---|---:|---:|",
        "| FedMKT-SLM | 61.5 | 200 |",
        "| Standalone | 55.0 | 200 |",
    ]


def test_cells_stay_on_one_line_and_cannot_open_a_column():
    assert cell("bad | reason\nsecond  line") == "bad \\| reason second line"
    table = markdown_table(["Client", "Reason"], [("client-1", "top-k | ids\nout of range")], "ll")
    assert table.splitlines()[-1] == "| client-1 | top-k \\| ids out of range |"
    assert table.splitlines()[-1].replace("\\|", "").count("|") == 3


def test_a_table_with_no_rows_is_its_header():
    assert markdown_table(["Phase", "Wall (s)"], [], "lr") == "| Phase | Wall (s) |\n|---|---:|"


@pytest.mark.parametrize(("align", "rows"), [("l", [("a", "b")]), ("lx", [("a", "b")]), ("ll", [("a",)])])
def test_alignment_and_row_width_must_match_the_header(align, rows):
    with pytest.raises(ValueError, match="align|cells"):
        markdown_table(["A", "B"], rows, align)
