"""The run directory: its files, and reading it back (making and replacing one safely:
vaekit.api.rundir)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from PIL import Image

from vaekit.api.options import check_section, objective_options
from vaekit.config import from_dict
from vaekit.data.datasets import Dataset, missing_path, open_dataset
from vaekit.errors import VaekitError
from vaekit.files import finite_or_none
from vaekit.kinds.base import Kind, kind
from vaekit.models.factory import ModelConfig
from vaekit.models.io import read_config
from vaekit.report.card_file import card_path
from vaekit.training.loop import TrainConfig
from vaekit.training.tracking import trackers_finished

METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
CURVES_FILE = "curves.png"
EVAL_FILE = "eval.json"  # vaekit eval's report
ANOMALY_FILE = "anomaly.json"  # vaekit anomaly's calibrated threshold
ANOMALY_TENSORS_FILE = "anomaly.safetensors"  # and the knn score's reference, beside it
REPORT_FILE = "report.html"  # vaekit report's page (train writes it too)
OUTPUTS_DIR = "outputs"  # the commands' outputs without -o: OUTPUTS_DIR/COMMAND/...


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(finite_or_none(record)) + "\n")


def read_metrics(rundir: str | Path) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl. Only the last line may be cut short (a kill or a
    full disk while appending it): it is left out. Damage anywhere else is an error, since
    the epochs after it could not be trusted either."""
    path = Path(rundir) / METRICS_FILE
    if not path.exists():
        return []
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise VaekitError(f"{path}: not a text file") from None
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise VaekitError(f"{path}: line {number} is damaged (not JSON)") from None
        if not isinstance(record, dict):
            raise VaekitError(f"{path}: line {number} is not a record")
        epoch = record.get("epoch", 0)
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise VaekitError(f"{path}: line {number}'s epoch is {epoch!r}, not an epoch number")
        records.append(record)
    return records


def reopen_dataset(
    run_config: dict[str, Any], data: Any = None, *, verify: bool = False
) -> Dataset:
    """The dataset a run was trained on (with the same carved splits), or `data` when given.

    The run's own data must still have the recorded checksum; so must `data` with `verify`
    (resuming), while without it `data` may be anything of the model's shape (evaluating on
    other data). The run's data keeps its recorded pixel kind (older runs recorded none: the
    source's declaration); other data has its own. Data of the model's kind is read with the
    model's schema (config.json's model.schema): a table is encoded with the run's columns,
    statistics and categories, audio with its spectrogram settings and statistics, text with
    its vocabulary.
    """
    info = run_config.get("data", {})
    seed = run_config.get("training", {}).get("seed", 0)
    fraction = info.get("test_carved", {}).get("fraction", 0.1)
    if data is None and info.get("source") == "array":
        raise VaekitError("this run was trained on an in-memory array: give the data (data= "
                          "in Python; at the command line, --data with a file of it)")  # fmt: skip
    if data is None and info.get("source") == "object":  # vaekit.data.objects
        # a table's rows check as the CSV of the same rows; images of an object have no file
        # form that checks as it
        raise VaekitError(
            f"this run was trained on a Python object, {info.get('name')}: give it again "
            "(data=... in Python; the rows of a table also as the CSV they were saved to "
            "without an index, to_csv(PATH, index=False), with --data)"
        )
    if data is None and not isinstance(info.get("name"), str):
        raise VaekitError(
            "config.json names no data (its data section, with the data's name, is missing or "
            "damaged): give the data (--data, or data= in Python)"
        )
    if data is None and missing_path(info["name"]):
        raise VaekitError(
            f"{info['name']}: the run's data is no longer there (moved?): give its new place "
            "with --data PATH (data= in Python)"
        )
    model = run_config.get("model", {})
    dataset = open_dataset(
        info["name"] if data is None else data,
        seed=seed,
        test_fraction=fraction,
        image_size=info.get("image_size"),
        color=info.get("color", "auto"),
        crop=info.get("crop", "center"),
        pixels=info.get("pixels") if data is None or verify else None,
        audio={k: info.get(k) for k in ("label_pattern", "test_pattern")},
        schema=model.get("schema"),
        schema_kind=model.get("kind"),
        # the kind the run's data was read as, where recorded (--kind): other data alike
        of_kind=info.get("kind") if isinstance(info.get("kind"), str) else None,
    )
    if (data is None or verify) and not dataset.has_checksum(info.get("sha256")):
        where = info["name"] if data is None else "the data given"
        fix = ("it has changed since: restore it, or give other data of its kind with --data "
               "(data= in Python), which a run can be evaluated on but not resumed on"
               if data is None else "resuming needs the data the run was trained on; a new "
               "run (vaekit train) trains on this")  # fmt: skip
        raise VaekitError(
            f"{where} differs from the data this run was trained on (checksum "
            f"{dataset.info['sha256'][:12]}..., recorded {str(info.get('sha256'))[:12]}...): "
            f"{fix}"
        )
    return dataset


def train_config_from(run_config: dict[str, Any]) -> TrainConfig:
    """The TrainConfig a run directory's config.json records (every key checked against the
    declared options, none missing)."""
    check_section(run_config, "training", "config.json")
    training = run_config["training"]
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in training.items() if k in names}
    # An installed objective's own options are recorded beside vaekit's, flat.
    values["objective_options"] = objective_options(str(training.get("objective")), training)
    return from_dict(TrainConfig, values, "config.json: training", complete=True)


def already_trained(rundir: Path, epochs: int, finished: bool) -> str:
    """Why a run does not resume with fewer --epochs than it trained; where it `finished`
    (its final line written) but its wrap-up (the pictures, the card, the report) was cut
    short by an interrupt, how to finish it."""
    counted = f"{epochs} epoch" + ("" if epochs == 1 else "s")
    said = f"{rundir} has already trained {counted}: pass a larger --epochs to train on"
    if finished and wrapup_cut_short(rundir):
        said += f"; its wrap-up was cut short: vaekit train --out {rundir} --resume finishes it"
    return said


def wrapup_cut_short(rundir: Path) -> bool:
    """Whether a run's pictures are not those of its final line: curves.png is missing, or
    drew fewer epochs than metrics.jsonl holds (a resumed run stopped in its wrap-up keeps
    the pictures of its earlier one; the count is in the PNG's text, which copies keep, as
    they do not keep the files' times); or its report.html or model card is missing; or its
    trackers (--log) did not get its test figures, the wrap-up's last part. For a run whose
    final line is written."""
    curves = rundir / CURVES_FILE
    if not curves.exists():
        return True
    try:
        with Image.open(curves) as png:
            drawn = png.text.get("vaekit-epochs")  # type: ignore[attr-defined]
        epochs = sum(1 for r in read_metrics(rundir) if "epoch" in r and not r.get("final"))
    except (OSError, ValueError, VaekitError):
        return False  # (unreadable: the command that reads it says so)
    if drawn is not None and drawn.isdigit() and int(drawn) != epochs:
        return True
    if drawn is not None and _page_or_card_missing(rundir):  # (runs that mark their curves
        return True  # write both: an older run without them was not cut short)
    return not trackers_finished(rundir, epochs)


def _page_or_card_missing(rundir: Path) -> bool:
    """Whether the wrap-up's report.html (where the run writes one) or its model card is
    missing: written after the pictures, an interrupt there left a run without them."""
    try:
        report = read_config(rundir).get("training", {}).get("report", False)
    except VaekitError:
        return False
    return (report and not (rundir / REPORT_FILE).is_file()) or not card_path(rundir).is_file()


def load_run_config(rundir: str | Path) -> dict[str, Any]:
    return read_config(rundir)


def run_kind(rundir: str | Path) -> Kind:
    """The kind of data a run's model is of (config.json's model.kind): what a command asks
    to choose its output's form before any work. A run that cannot be read is taken for one
    of images here (loading it says why): of ModelConfig's default kind, as config.json's
    migration reads a run that names none."""
    try:
        config = read_config(rundir)
    except VaekitError:
        return kind(ModelConfig.kind)
    model = config.get("model")
    name = model.get("kind") if isinstance(model, dict) else None
    return kind(name) if isinstance(name, str) else kind(ModelConfig.kind)
