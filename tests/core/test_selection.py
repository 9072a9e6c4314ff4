"""DualMinCE: lowest-NLL client on the server, strictly-better LLM on a client, deterministic ties, fp32."""

import json
import math

import numpy as np
import pytest
import torch

from fedmkt.core.selection import (
    NO_TEACHER,
    bits_per_byte,
    min_ce_teacher,
    select_client_teacher,
    select_server_teachers,
)
from fedmkt.errors import FedMKTError

UIDS = ["u0", "u1", "u2", "u3", "u4"]


def test_min_ce_teacher_picks_the_lowest_row_and_ties_go_to_the_lowest_index():
    nll = np.array(
        [[3.0, 1.0, 2.0, np.nan, np.inf], [2.0, 1.0, 5.0, 4.0, np.nan], [2.0, 0.5, 2.0, np.inf, np.nan]]
    )
    assert min_ce_teacher(nll).tolist() == [1, 2, 0, 1, NO_TEACHER]
    assert min_ce_teacher(np.zeros((0, 3))).tolist() == [NO_TEACHER] * 3
    with pytest.raises(FedMKTError, match="n_clients, n_samples"):
        min_ce_teacher(np.zeros(3))


def test_comparison_is_in_fp32():
    # distinct in float64, equal in float32: a tie, so the lowest index wins
    assert min_ce_teacher(np.array([[1.0 + 1e-12], [1.0]])).tolist() == [0]
    # 12.30 and 12.33 are one value in bf16 (the reference implementation's tie); fp32 tells them apart
    assert torch.tensor(12.30, dtype=torch.bfloat16) == torch.tensor(12.33, dtype=torch.bfloat16)
    assert min_ce_teacher(np.array([[12.33], [12.30]])).tolist() == [1]
    assert select_client_teacher({"u": 12.30}, {"u": 12.33}, ["u"]).distill.tolist() == [True]


def test_server_selection_per_sample_with_a_rejected_client_and_missing_samples():
    nll = {
        "alice": {"u0": 3.0, "u1": 1.0, "u2": 2.0, "u3": 7.0, "u4": math.nan},
        "bob": {"u0": 2.0, "u1": 1.0, "u2": 2.5},  # u3, u4 missing
        "carol": {"u0": 2.0, "u1": 4.0, "u2": 1.5, "u3": 9.0},
    }
    selection = select_server_teachers(nll, UIDS)
    assert [selection.teacher_of(uid) for uid in UIDS] == ["bob", "alice", "carol", "alice", None]
    assert selection.teacher.dtype == np.int64
    assert selection.teacher_nll[:4].tolist() == [2.0, 1.0, 1.5, 7.0] and math.isnan(selection.teacher_nll[4])
    assert selection.counts() == {"none": 1, "alice": 2, "bob": 1, "carol": 1}
    assert selection.uids_for("alice") == ["u1", "u3"]
    summary = selection.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["teacher"]["u4"] is None and summary["side"] == "server"


def test_server_tie_break_follows_the_client_order_given():
    nll = {"b": {"u": 1.0}, "a": {"u": 1.0}}
    assert select_server_teachers(nll, ["u"]).teacher_of("u") == "b"
    assert select_server_teachers(dict(reversed(nll.items())), ["u"]).teacher_of("u") == "a"


def test_server_selection_with_no_client_messages_selects_nothing():
    selection = select_server_teachers({}, UIDS)
    assert selection.counts() == {"none": 5}
    assert selection.summary()["teacher"] == dict.fromkeys(UIDS)


def test_client_distills_only_where_the_llm_is_strictly_better():
    llm = {"u0": 1.0, "u1": 2.0, "u2": 3.0, "u3": math.nan, "u4": 0.5}
    own = {"u0": 2.0, "u1": 2.0, "u2": 1.0, "u3": 9.0}  # u1 ties; u4 has no own NLL
    selection = select_client_teacher(llm, own, UIDS)
    assert selection.distill.tolist() == [True, False, False, False, True]
    assert selection.uids_to_distill() == ["u0", "u4"]
    assert selection.counts() == {"llm": 2, "none": 3}
    summary = selection.summary()
    assert json.loads(json.dumps(summary)) == summary and summary["distill"] == ["u0", "u4"]
    missing = select_client_teacher({}, own, UIDS)
    assert not missing.distill.any()


def test_bits_per_byte_ranks_like_the_total_nll_for_one_text():
    answer = " the ocean"
    n_bytes = len(answer.encode())
    nll = {"coarse tokenizer": 6.0, "fine tokenizer": 7.5}
    bpb = {name: bits_per_byte(value, n_bytes) for name, value in nll.items()}
    assert bpb["coarse tokenizer"] == pytest.approx(6.0 / math.log(2) / 10)
    assert sorted(nll, key=nll.get) == sorted(bpb, key=bpb.get)
    with pytest.raises(FedMKTError, match="n_bytes"):
        bits_per_byte(1.0, 0)
