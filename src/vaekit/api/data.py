"""Datasets for people: what is registered, where it is, and what is in it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vaekit.data.datasets import Dataset, missing_path, open_dataset
from vaekit.data.fetch import Progress, fetch, find_files_for
from vaekit.data.formats import content_sha256
from vaekit.data.prepare import prepare_from_sets, prepared_path
from vaekit.data.registry import DatasetSpec, dataset_names, get_spec, is_dataset_name
from vaekit.errors import VaekitError
from vaekit.kinds.base import kind
from vaekit.models.io import is_run_dir
from vaekit.train_options import DEFAULTS, KIND_OPTIONS, TRAIN_OPTIONS


def list_datasets() -> list[dict[str, Any]]:
    """One entry per registered dataset: name, description, where it was found (a folder,
    "built in" for those that ship with a package, or None when missing) and, for a missing
    one, `download`: None when `vaekit data fetch` would download it, else why it would not."""
    rows = []
    for name in dataset_names():
        spec = get_spec(name)
        found = find_files_for(spec)
        if not spec.files and spec.find is None:
            where: str | None = "built in"
        elif found is None:
            where = None
        else:
            where = str(next(iter(found.values())).parent)
        row = {"name": name, "description": spec.description, "where": where}
        if where is None:
            row["download"] = _download_refusal(spec)
        rows.append(row)
    return rows


def download_refusal(name: str) -> str | None:
    """Why `vaekit data fetch NAME` would not download a missing registered dataset, or None
    when it would: the rules of `vaekit.data.fetch.fetch`, asked without fetching."""
    return _download_refusal(get_spec(name))


def _download_refusal(spec: DatasetSpec) -> str | None:
    """download_refusal, given the spec."""
    name = spec.name
    if spec.manual or not spec.files or not all(f.url for f in spec.files if not f.optional):
        return f"vaekit cannot download it; `vaekit data fetch {name}` says where to get it"
    if os.environ.get("VAEKIT_OFFLINE"):
        return "VAEKIT_OFFLINE is set: no downloads"
    return None


def fetch_dataset(name: str, progress: Progress | None = None) -> dict[str, Path]:
    """Find a registered dataset's files, downloading them into the cache if needed."""
    return fetch(name, progress)


def open_with_options(
    source: Any, options: dict[str, Any], progress: Progress | None = None
) -> Dataset:
    """open_dataset for `vaekit train`'s options by name (vaekit.train_options: every data
    option and each kind's own, at their defaults where `options` lacks them): the one
    place train and `data info` turn options into how a source is read."""
    opts = {**DEFAULTS, **options}
    if isinstance(source, str | Path) and is_run_dir(Path(source).expanduser()):
        raise VaekitError(
            f"{source} is a vaekit run directory, not data: give the data it was trained on "
            "(its config.json's data.name)"
        )
    dataset = open_dataset(
        source,
        seed=opts["seed"],
        image_size=opts["image_size"],
        color=opts["color"],
        crop=opts["crop"],
        pixels=opts["pixels"],
        progress=progress,
        columns=opts["columns"],
        target=opts["target"],
        id_column=opts["id_column"],
        target_is_label=opts["target_is_label"],
        vocab_size=opts["vocab_size"],
        max_length=opts["max_length"],
        options={option.name: opts[option.name] for option in KIND_OPTIONS},
        of_kind=opts["kind"],
    )
    if "color" not in dataset.info:  # not image files decoded as asked (they record how)
        for name in ("image_size", "color", "crop"):
            if opts[name] != DEFAULTS[name]:
                raise VaekitError(
                    f"{TRAIN_OPTIONS[name].flag} is for image files (a folder of PNG/JPEG "
                    f"images, CelebA): {dataset.info.get('name', source)} is taken as it is"
                )
    return dataset


def dataset_info(source: str, progress: Progress | None = None, **options: Any) -> dict[str, Any]:
    """Shapes, splits, value range and checksums of a dataset name or path, read as `vaekit
    train` would read it with the same `options` (by their names: target="label",
    window=16; each checked against its declaration): a table's columns, a
    folder of .wav files' recordings, text's lines and vocabulary, a series' channels and
    windows. Its "kind" names the kind of data, whose data part says what is described
    beyond the dataset's info (`describe`)."""
    options = TRAIN_OPTIONS.check(options, "dataset_info")
    info: dict[str, Any] = {}
    opened: str | DatasetSpec = source
    if is_dataset_name(source):
        spec = opened = get_spec(source)  # looked up once, then passed on
        found = find_files_for(spec)
        info["files"] = [
            {
                "name": f.name,
                "url": f.url,
                "expected_sha256": f.sha256,
                "path": str(found[f.role]) if found else None,
                "sha256": content_sha256(found[f.role]) if found else None,
            }
            for f in spec.files
        ]
        if found is None:
            info["missing"] = True
            info["download"] = _download_refusal(spec)
            return {"name": source, "description": spec.description, **info}
    # Opened once, with every kind's options: each opener takes those of its kind; the
    # options its kind does not take are refused, as `vaekit train` refuses them, also
    # where reading it failed (--window for a file read as a table: the table's complaint
    # about its time column was all that was said).
    from vaekit.api.options import data_kind, refuse_other_kinds_options

    try:
        dataset = open_with_options(opened, options, progress)
    except VaekitError:
        own = None if missing_path(source) else data_kind(opened, options.get("kind"))
        if own is not None:
            refuse_other_kinds_options(own, options, source)
        raise
    refuse_other_kinds_options(kind(dataset.kind), options, source)
    described = kind(dataset.kind).part("data").describe(dataset)
    return {**dataset.info, **info, "kind": dataset.kind, **described}


def prepare_dataset(
    source: str,
    image_size: int | None = None,
    color: str = "auto",
    crop: str = "center",
    progress: Any = None,
) -> dict[str, Any]:
    """Convert a dataset once into a memory-mapped uint8 array in the cache (image folders and
    CelebA are decoded on all cores); returns its info, with "prepared" the folder to pass as
    --data. Training on image folders prepares them by itself; this does it ahead of time.
    Only images are prepared (a kind whose model part says IMAGES): data of another kind is
    read as it is, and refused here."""
    from vaekit.api.options import data_kind  # imports torch: only where a source is prepared

    found = data_kind(source)
    if found is not None and not getattr(found.part("model"), "IMAGES", False):
        raise VaekitError(
            f"{source}: {found.noun}, read as it is (there is nothing to prepare): give it to "
            "vaekit train --data"
        )
    dataset = open_dataset(source, image_size=image_size, color=color, crop=crop, progress=progress)
    info = dataset.info
    if "prepared" not in info:
        splits = {"train": dataset.train, "val": dataset.val, "test": dataset.test}
        out = prepared_path(info["name"], info["sha256"])
        prepare_from_sets(splits, out, info["sha256"], info["name"], info.get("classes", ()))
        info["prepared"] = str(out)
    return info
