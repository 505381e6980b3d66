"""The run directory: its files, creating it safely, and reading it back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from vaekit.data.datasets import Dataset, open_dataset
from vaekit.errors import VaekitError
from vaekit.models.io import CONFIG_FILE, read_config

METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
CURVES_FILE = "curves.png"


def create_run_dir(out: str | Path, overwrite: bool) -> Path:
    """Make an empty run directory. An existing one is an error unless `overwrite`, and even
    then only a vaekit run directory (or an empty folder) is ever deleted."""
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise VaekitError(f"{out} already exists: choose another --out or pass --overwrite")
        if not out.is_dir():
            raise VaekitError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not (out / CONFIG_FILE).exists():
            raise VaekitError(
                f"{out} is not a vaekit run directory (no {CONFIG_FILE}); not deleting it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(rundir: str | Path) -> list[dict[str, Any]]:
    path = Path(rundir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def reopen_dataset(run_config: dict[str, Any], data: str | None = None) -> Dataset:
    """The dataset a run was trained on (same test split), or `data` when given."""
    info = run_config.get("data", {})
    seed = run_config.get("training", {}).get("seed", 0)
    fraction = info.get("test_carved", {}).get("fraction", 0.1)
    if data is not None:
        return open_dataset(data, seed=seed, test_fraction=fraction)
    if info.get("source") == "array":
        raise VaekitError("this run was trained on an in-memory array: give the data (--data)")
    dataset = open_dataset(info["name"], seed=seed, test_fraction=fraction)
    if dataset.info["sha256"] != info.get("sha256"):
        raise VaekitError(
            f"the data at {info['name']} has changed since this run was trained "
            "(checksum differs): give the data explicitly (--data)"
        )
    return dataset


def load_run_config(rundir: str | Path) -> dict[str, Any]:
    return read_config(rundir)
