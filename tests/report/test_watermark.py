"""A watermark: the logs' lengths and the digests of those bytes, read incrementally."""

from __future__ import annotations

import hashlib
import json

from fedmkt.report.watermark import Watermark, current_watermark


def test_a_watermark_hashes_the_bytes_on_disk_as_the_log_grows(tmp_path):
    """The incremental digest (only new bytes are read) equals a digest of the whole file, each time."""
    metrics = tmp_path / "metrics.jsonl"
    for i in range(5):
        with metrics.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": "step", "i": i}) + "\n")
        mark = current_watermark(tmp_path)
        assert mark.metrics_sha256 == hashlib.sha256(metrics.read_bytes()).hexdigest()
        assert mark.comm_sha256 == hashlib.sha256(b"").hexdigest() and mark.comm_bytes == 0


def test_a_record_without_lengths_has_no_watermark_and_newer_records_order_after_older():
    assert Watermark.of({"metrics_bytes": "x", "comm_bytes": 1}) is None and Watermark.of({}) is None
    old = Watermark.of({"metrics_bytes": 10, "comm_bytes": 0})  # an older fedmkt kept lengths only
    new = Watermark.of({"metrics_bytes": 12, "comm_bytes": 3, "metrics_sha256": "a", "comm_sha256": "b"})
    assert old is not None and new is not None and old.metrics_sha256 is None
    assert max([new, old], key=lambda m: m.key) == new and new.comm_sha256 == "b"
