"""Core message bytes and adapter weights as Flower records, arrays in their own dtypes.

The core speaks safetensors bytes (``fedmkt.core.messages``): four flat tensors and a JSON
header. Over Flower the four tensors travel as an ``ArrayRecord`` of numpy arrays in their
wire dtypes (ids uint8/uint16/int32, probabilities float16, ``n_positions`` int32, ``nll``
float32) and the header as a string in a ``ConfigRecord``; the receiver packs them back into
safetensors bytes and hands those to the core, which validates everything (so a malformed
record is rejected there with the core's one-line reason, or here when it is not even a set
of arrays). LoRA adapters travel as an ``ArrayRecord`` keyed by peft's state-dict names.

Flower's ``Array`` serialises numpy arrays with ``np.save``; numpy has no bfloat16, so a
bfloat16 tensor travels as its raw bytes with ``dtype="bfloat16"`` and ``stype="fedmkt.raw"``.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import safetensors.numpy
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord
from torch import Tensor

from fedmkt.core.messages import HEADER_KEY
from fedmkt.errors import FedMKTError

RAW_STYPE = "fedmkt.raw"
_MAX_ARRAYS = 16  # a distribution message holds four


class RecordError(FedMKTError):
    """A Flower record that cannot be turned back into what the core expects; one-line reason."""


def payload_to_records(data: bytes) -> tuple[ArrayRecord, ConfigRecord]:
    """Split core message bytes into its arrays (own dtypes) and its JSON header string."""
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])["__metadata__"][HEADER_KEY]
    arrays = ArrayRecord()
    for name, value in safetensors.numpy.load(data).items():
        arrays[name] = Array(value)
    return arrays, ConfigRecord({"header": header})


def records_to_payload(arrays: object, header: object) -> bytes:
    """Core message bytes from received records; raises :class:`RecordError` when they are not arrays.

    Contents are not checked here: the core's ``receive`` validates the bytes.
    """
    if not isinstance(arrays, ArrayRecord) or not isinstance(header, ConfigRecord):
        raise RecordError("reply lacks the distribution arrays or their header")
    text = header.get("header")
    if not isinstance(text, str):
        raise RecordError("distribution header is not a string")
    if len(arrays) > _MAX_ARRAYS:
        raise RecordError(f"{len(arrays)} arrays, a distribution message holds 4")
    tensors = {}
    for name, array in arrays.items():
        try:
            tensors[name] = np.ascontiguousarray(array.numpy())
        except Exception as err:  # noqa: BLE001 - untrusted bytes: any failure is a rejection
            raise RecordError(f"array {name[:40]!r} does not decode ({type(err).__name__})") from None
        if tensors[name].dtype.kind not in "uif":
            raise RecordError(f"array {name[:40]!r} has dtype {tensors[name].dtype}, expected a number type")
    try:
        return safetensors.numpy.save(tensors, metadata={HEADER_KEY: text})
    except Exception as err:  # noqa: BLE001
        raise RecordError(f"arrays do not form a message ({type(err).__name__})") from None


def record_nbytes(arrays: ArrayRecord) -> int:
    """Bytes of the serialised arrays (what Flower moves, before its own framing)."""
    return sum(len(array.data) for array in arrays.values())


def adapter_to_record(state: dict[str, Tensor]) -> ArrayRecord:
    """Adapter weights (``get_adapter_state``) as an ArrayRecord, each tensor in its own dtype."""
    record = ArrayRecord()
    for key, tensor in state.items():
        tensor = tensor.detach().cpu().contiguous()
        if tensor.dtype == torch.bfloat16:
            raw = tensor.view(torch.int16).numpy().tobytes()
            record[key] = Array(dtype="bfloat16", shape=tuple(tensor.shape), stype=RAW_STYPE, data=raw)
        else:
            record[key] = Array(tensor.numpy())
    return record


def record_to_adapter(record: object) -> dict[str, Tensor]:
    """Adapter weights back from :func:`adapter_to_record`; shapes and keys are checked on loading."""
    if not isinstance(record, ArrayRecord):
        raise RecordError("reply lacks the adapter arrays")
    state: dict[str, Tensor] = {}
    for key, array in record.items():
        try:
            if array.stype == RAW_STYPE and array.dtype == "bfloat16":
                flat = torch.frombuffer(bytearray(array.data), dtype=torch.int16).view(torch.bfloat16)
                state[key] = flat.reshape(array.shape)
            else:
                state[key] = torch.from_numpy(np.ascontiguousarray(array.numpy()))
        except Exception as err:  # noqa: BLE001 - untrusted bytes
            raise RecordError(f"adapter array {key[:60]!r} does not decode ({type(err).__name__})") from None
        if not torch.is_floating_point(state[key]) or not torch.isfinite(state[key]).all():
            raise RecordError(f"adapter array {key[:60]!r} is not finite floating point")
    return state


def json_record(**values: object) -> ConfigRecord:
    """A ConfigRecord of JSON strings: how reports and rows (nested dicts, lists) travel."""
    return ConfigRecord({key: json.dumps(value, default=str) for key, value in values.items()})


def record_int(record: ConfigRecord, key: str, default: int | None = None) -> int:
    """An integer field of a config record; raises :class:`RecordError` when absent or not an integer."""
    value = record.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordError(f"record field {key!r} is {value!r}; expected an integer")
    return value


def record_str(record: ConfigRecord, key: str, default: str | None = None) -> str:
    """A string field of a config record; raises :class:`RecordError` when absent or not a string."""
    value = record.get(key, default)
    if not isinstance(value, str):
        raise RecordError(f"record field {key!r} is {value!r}; expected a string")
    return value


def record_bool(record: ConfigRecord, key: str, default: bool) -> bool:
    """A boolean field of a config record (``default`` when absent); raises :class:`RecordError` otherwise."""
    value = record.get(key, default)
    if not isinstance(value, bool):
        raise RecordError(f"record field {key!r} is {value!r}; expected true or false")
    return value


def read_json(record: object, key: str) -> object:
    """One value of a :func:`json_record`; raises :class:`RecordError` when absent or not JSON."""
    text = record.get(key) if isinstance(record, ConfigRecord) else None
    if not isinstance(text, str):
        raise RecordError(f"reply lacks {key!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise RecordError(f"reply field {key!r} is not JSON") from None
