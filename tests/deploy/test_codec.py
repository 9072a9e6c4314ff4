"""Core message bytes and adapters through Flower records: same bytes back, own dtypes, bad records refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from flwr.app import Array, ArrayRecord, ConfigRecord  # noqa: E402

from fedmkt.core.messages import SCHEMA_VERSION, DistributionMessage, SampleDistributions, decode, encode  # noqa: E402
from fedmkt.deploy.flower.codec import (  # noqa: E402
    RecordError,
    adapter_to_record,
    json_record,
    payload_to_records,
    read_json,
    record_bool,
    record_int,
    record_nbytes,
    record_str,
    record_to_adapter,
    records_to_payload,
)


def _message(vocab_size: int = 1000, k: int = 4) -> bytes:
    rng = np.random.default_rng(0)
    samples = []
    for i, n_pos in enumerate((3, 1, 5)):
        probs = rng.dirichlet(np.ones(k + 1), size=n_pos)[:, :k].astype(np.float16)
        ids = rng.integers(0, vocab_size, size=(n_pos, k)).astype(np.uint16)
        samples.append(SampleDistributions(uid=f"u{i}", token_ids=ids, probs=probs, nll=float(i) + 0.5))
    return encode(DistributionMessage(SCHEMA_VERSION, "client-1", 2, vocab_size, k, samples))


def _rewire(arrays: ArrayRecord) -> ArrayRecord:
    """What the receiver holds after Flower moved the arrays: new objects from dtype, shape, stype, bytes."""
    return ArrayRecord.from_array_dict({k: Array(v.dtype, tuple(v.shape), v.stype, v.data) for k, v in arrays.items()})


def test_payload_travels_as_arrays_in_their_own_dtypes_and_comes_back_byte_identical():
    data = _message()
    arrays, header = payload_to_records(data)
    assert {k: v.dtype for k, v in arrays.items()} == {
        "token_ids": "uint16", "probs": "float16", "n_positions": "int32", "nll": "float32"}
    assert arrays["token_ids"].shape == (9, 4)
    back = records_to_payload(_rewire(arrays), header)
    assert back == data
    assert decode(back).nll_by_uid() == {"u0": 0.5, "u1": 1.5, "u2": 2.5}
    # np.save adds a small header per array: the Flower arrays are a little larger than the tensors
    assert 0 < record_nbytes(arrays) - (9 * 4 * 2 * 2 + 3 * 4 * 2) < 4 * 256


@pytest.mark.parametrize("bad, reason", [
    (lambda a, h: (a, None), "lacks the distribution arrays"),
    (lambda a, h: (a, ConfigRecord({"header": 3})), "header is not a string"),
    (lambda a, h: (ArrayRecord({"token_ids": Array("float16", (2,), "numpy.ndarray", b"junk")}), h),
     "does not decode"),
    (lambda a, h: (ArrayRecord({"token_ids": Array(np.array(["a", "b"]))}), h), "expected a number type"),
    (lambda a, h: (ArrayRecord({f"x{i}": Array(np.zeros(1)) for i in range(20)}), h), "holds 4"),
])
def test_records_that_are_not_a_message_are_refused_with_a_reason(bad, reason):
    arrays, header = payload_to_records(_message())
    with pytest.raises(RecordError, match=reason):
        records_to_payload(*bad(arrays, header))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_adapter_round_trip_keeps_values_and_dtype(dtype):
    state = {"base_model.layer.lora_A.weight": torch.randn(4, 8, generator=torch.Generator().manual_seed(0)).to(dtype),
             "base_model.layer.lora_B.weight": torch.zeros(8, 4, dtype=dtype)}
    record = adapter_to_record(state)
    assert {v.dtype for v in record.values()} == {str(dtype).removeprefix("torch.")}
    back = record_to_adapter(_rewire(record))
    assert all(back[k].dtype == dtype and torch.equal(back[k], state[k]) for k in state)


def test_adapter_records_with_bad_values_are_refused():
    with pytest.raises(RecordError, match="lacks the adapter"):
        record_to_adapter(None)
    with pytest.raises(RecordError, match="not finite"):
        record_to_adapter(adapter_to_record({"w": torch.tensor([1.0, float("nan")])}))
    with pytest.raises(RecordError, match="not finite floating point"):
        record_to_adapter(ArrayRecord({"w": Array(np.arange(3))}))


def test_json_records_carry_reports_and_refuse_what_is_not_json():
    record = json_record(report={"steps": 3, "metrics": {"kd_loss": 0.5}})
    assert read_json(record, "report") == {"steps": 3, "metrics": {"kd_loss": 0.5}}
    with pytest.raises(RecordError, match="lacks 'rows'"):
        read_json(record, "rows")
    with pytest.raises(RecordError, match="not JSON"):
        read_json(ConfigRecord({"rows": "{"}), "rows")


def test_typed_fields_of_a_server_job_are_checked_not_coerced():
    job = ConfigRecord({"round": 2, "run-key": "17", "fedavg": True, "score-method": "FedMKT-SLM"})
    assert record_int(job, "round") == 2
    assert record_str(job, "run-key") == "17"
    assert record_bool(job, "fedavg", False) is True
    assert record_bool(job, "send-topk", True) is True  # absent: the default
    assert record_str(job, "absent", "") == ""
    with pytest.raises(RecordError, match="'round' is '2'; expected an integer"):
        record_int(ConfigRecord({"round": "2"}), "round")
    with pytest.raises(RecordError, match="'round' is True; expected an integer"):
        record_int(ConfigRecord({"round": True}), "round")
    with pytest.raises(RecordError, match="'server-vocab' is None"):
        record_int(job, "server-vocab")
    with pytest.raises(RecordError, match="'fedavg' is 1; expected true or false"):
        record_bool(ConfigRecord({"fedavg": 1}), "fedavg", False)
