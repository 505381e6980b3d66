"""Datasets for people: what is registered, where it is, and what is in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaekit.data.datasets import open_dataset
from vaekit.data.fetch import Progress, fetch, find_files
from vaekit.data.formats import content_sha256
from vaekit.data.registry import dataset_names, get_spec, is_dataset_name


def list_datasets() -> list[dict[str, Any]]:
    """One entry per registered dataset: name, description, and where it was found (a folder,
    "built in" for those that ship with a package, or None when missing)."""
    rows = []
    for name in dataset_names():
        spec = get_spec(name)
        found = find_files(name)
        if not spec.files:
            where: str | None = "built in"
        elif found is None:
            where = None
        else:
            where = str(next(iter(found.values())).parent)
        rows.append({"name": name, "description": spec.description, "where": where})
    return rows


def fetch_dataset(name: str, progress: Progress | None = None) -> dict[str, Path]:
    """Find a registered dataset's files, downloading them into the cache if needed."""
    return fetch(name, progress)


def dataset_info(source: str, progress: Progress | None = None) -> dict[str, Any]:
    """Shapes, splits, value range and checksums of a dataset name or path."""
    info: dict[str, Any] = {}
    if is_dataset_name(source):
        spec = get_spec(source)
        found = find_files(source)
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
            return {"name": source, "description": spec.description, **info}
    dataset = open_dataset(source, progress=progress)
    splits = {"train": dataset.train, "val": dataset.val, "test": dataset.test}
    return {
        **dataset.info,
        **info,
        "splits": {
            name: {
                "images": list(s.images.shape),
                "labels": s.labels is not None,
                "min": float(s.images.min()),
                "max": float(s.images.max()),
                "mean": float(s.images.float().mean()),
            }
            for name, s in splits.items()
            if s is not None
        },
    }
