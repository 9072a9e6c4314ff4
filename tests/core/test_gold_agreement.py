"""gold_agreement: how close a top-k message is to the gold answers, on hand-built rows and a real message."""

import math

import numpy as np
import pytest

from fedmkt.core.gold_agreement import gold_agreement
from fedmkt.core.messages import SampleDistributions


def _sample(uid: str, ids: list[list[int]], probs: list[list[float]]) -> SampleDistributions:
    return SampleDistributions(uid, np.asarray(ids, dtype=np.uint16), np.asarray(probs, dtype=np.float16), 1.0)


def test_top1_share_and_gold_mass_over_all_positions():
    samples = [_sample("a", [[5, 7], [3, 9]], [[0.75, 0.25], [0.5, 0.25]]),  # gold 5 (top-1), gold 9 (second)
               _sample("b", [[1, 2]], [[0.5, 0.5]])]  # gold 4: outside the top-k
    result = gold_agreement(samples, [np.array([5, 9]), np.array([4])])
    assert result.top1 == pytest.approx(1 / 3)
    assert result.prob == pytest.approx((0.75 + 0.25 + 0.0) / 3)


def test_rows_and_gold_tokens_must_match_and_nothing_gives_nan():
    with pytest.raises(ValueError, match="a: 2 rows for 1 gold tokens"):
        gold_agreement([_sample("a", [[5], [3]], [[1.0], [1.0]])], [np.array([5])])
    empty = gold_agreement([], [])
    assert math.isnan(empty.top1) and math.isnan(empty.prob)


def test_a_real_messages_report_matches_the_models_own_predictions(tmp_path):
    import torch
    from roles_fixtures import TOP_K, build_federation

    from fedmkt.training.batching import collate

    _, clients = build_federation(tmp_path)
    participant = clients[0].participant
    _, report = clients[0].public_payload(1)
    hits, mass, n = 0, 0.0, 0
    model = participant.model.eval()
    with torch.no_grad():
        for i, encoded in enumerate(participant.view.encoded):
            batch = collate([encoded], participant.pad_id)
            probs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[0].softmax(-1)
            positions = torch.as_tensor(participant.view.positions[i])
            gold = torch.as_tensor(participant.view.ids[i])[positions + 1]
            hits += int((probs[positions].argmax(-1) == gold).sum())
            top = probs[positions].topk(TOP_K, dim=-1)  # the message keeps the top-k only
            mass += float((top.values * (top.indices == gold[:, None])).sum())
            n += len(positions)
    assert report.gold_top1 == pytest.approx(hits / n)
    assert report.gold_prob == pytest.approx(mass / n, abs=1e-3)  # probabilities travel as float16
