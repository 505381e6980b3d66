"""`vaekit.train`: data in, run directory out (`vaekit.resume`, in vaekit.api.resume, continues
one through `_train_and_finish` here).

run = vaekit.train(data="digits", model="mlp", epochs=3, out="runs/digits")
run.model.sample(16)
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from vaekit.api.card import model_html, write_model_card
from vaekit.api.data import open_with_options
from vaekit.api.model import Model, resolve_device
from vaekit.api.options import (
    build_configs,
    config_hash,
    config_sections,
    fit_options_to_data,
    options_from_config,
    resolve_options,
)
from vaekit.api.report import write_pictures, write_report
from vaekit.api.run import (
    METRICS_FILE,
    append_jsonl,
    train_config_from,
)
from vaekit.api.rundir import (
    NewRun,
    check_out,
    save_final,
)
from vaekit.data.batches import ImageSet, binarize_once
from vaekit.data.datasets import Dataset, split_validation
from vaekit.data.registry import is_dataset_name
from vaekit.errors import VaekitError
from vaekit.evaluation.evaluate import CLOSING_UNITS_EXAMPLES, active_units
from vaekit.kinds.base import kind
from vaekit.models.factory import ModelConfig, build_vae, describe_custom
from vaekit.models.io import (
    WEIGHTS_FILE,
    model_config_from,
    save_weights,
    write_config,
)
from vaekit.models.posterior import posterior_moments_of
from vaekit.options import describe
from vaekit.progress import Bars
from vaekit.train_options import DEFAULTS, TRAIN_OPTIONS
from vaekit.training.callbacks import ProgressBar
from vaekit.training.checkpoint import save_checkpoint
from vaekit.training.distributed import SINGLE, Group, from_env
from vaekit.training.ema import averaged
from vaekit.training.loop import (
    Callback,
    LoopState,
    TrainConfig,
    best_epoch,
    fit,
    loss_name,
    make_state,
    mean_loss,
    should_stop,
)
from vaekit.training.precision import resolve_precision
from vaekit.training.schedules import check_kl_options
from vaekit.training.tracking import Tracking, check_installed
from vaekit.version import __version__


@dataclass
class Run:
    """A finished training run: where it lives, what it was, how it went, and its model."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]]
    test: dict[str, float]
    model: Model
    pictures: dict[str, Path] = field(default_factory=dict)
    stopped_by_budget: bool = False  # --time-budget ended it before --epochs
    latents: dict[str, Any] = field(default_factory=dict)  # active units on the test split

    def _repr_html_(self) -> str:
        """A notebook's summary: the configuration, the test figures and a few samples."""
        records = [*self.history, {"final": True, "test": self.test, "latents": self.latents}]
        return model_html(self.model, self.path, records, name=self.path.name)


class _RunWriter(Callback):
    """After every epoch: a line in metrics.jsonl, the weights, and a full checkpoint, so a
    run killed at any moment keeps every epoch it finished and can resume exactly. A new run
    (`new_run`) takes its place at --out after its first epoch (vaekit.api.rundir)."""

    def __init__(self, path: Path, config_hash: str, keep_best: bool,
                 new_run: NewRun | None = None, prepare: Any = None) -> None:  # fmt: skip
        self.path = path
        self.config_hash = config_hash
        self.keep_best = keep_best  # early stopping: the weights are the best val epoch's
        self.new_run = new_run
        # A resumed run's files, rewritten once it has gone on (a failure before leaves them)
        self.prepare = prepare

    def _prepared(self) -> None:
        prepare, self.prepare = self.prepare, None
        if prepare is not None:
            prepare()

    def on_epoch_end(self, record: dict[str, Any], state: LoopState) -> None:
        try:
            self._prepared()
            append_jsonl(self.path / METRICS_FILE, record)
            best = best_epoch(state.history) == record["epoch"]
            if not self.keep_best or best or not (self.path / WEIGHTS_FILE).exists():
                with averaged(state.model, state.ema):  # --ema: the average is the model
                    save_weights(self.path, state.model)
            save_checkpoint(self.path, state, self.config_hash)
        except (OSError, SafetensorError) as err:  # a full disk, most often
            raise VaekitError(self._not_saved(record["epoch"], err)) from err
        self.place()

    def place(self) -> Path:
        """Put a new run at --out (once); returns where the run now is."""
        self._prepared()
        if self.new_run is not None:
            self.path = self.new_run.place()
        return self.path

    def _not_saved(self, epoch: int, err: BaseException) -> str:
        why = f"could not save epoch {epoch} ({err})"
        if self.new_run is not None and not self.new_run.placed:
            return f"{why}; {self.new_run.out} is as it was before this command"
        return (
            f"{why}; {self.path} keeps the checkpoint of epoch {epoch - 1}: make room, then "
            f"continue with: vaekit train --out {self.path} --resume"
        )


def default_out(data: Any, model: str) -> Path:
    if is_dataset_name(data):
        name = data
    elif isinstance(data, str | Path):
        name = Path(data).stem or "data"
    else:  # an array, or a dataset object (vaekit.data.objects) by its class: "dataframe"
        name = "array" if hasattr(data, "dtype") else type(data).__name__.lower()
    return Path("runs") / f"{name}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    data: str | Path | np.ndarray | torch.Tensor = DEFAULTS["data"],
    *,
    encoder: nn.Module | None = None,
    decoder: nn.Module | None = None,
    likelihood_module: nn.Module | None = None,
    prior_module: nn.Module | None = None,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    active_units: bool = True,
    **options: Any,
) -> Run:
    """Train a VAE on `data` and write the run directory `out`.

    Args:
        data: a registered name (`vaekit data list`), a folder (IDX files, CIFAR-10
            batches, SVHN .mat files, a prepared dataset, or PNG/JPEG images with subfolders as
            labels), a .npy/.npz file, images as an array (N, H, W) or (N, C, H, W), uint8
            or float in [0, 1], or a torch Dataset, a pandas DataFrame or a Hugging Face
            dataset (vaekit.data.objects; `resume` and `evaluate` take it again as data=).
        encoder, decoder, likelihood_module, prior_module: your own nn.Modules in place of
            the built-in ones (see the README); config.json records their import paths and
            their `vaekit_kwargs` so that `vaekit.load` can rebuild them.
        overwrite: replace `out` if it is a vaekit run directory holding only vaekit's
            files; the old run stays in place until the new one has finished an epoch.
        progress: show progress bars.
        callbacks: extra vaekit.training.loop.Callback hooks, called after vaekit's own.
        active_units: count the active units of the test split's first 1,000 examples at the
            end (64 ancestral passes per example for a hierarchy; vaekit tune's trials leave
            it to `vaekit eval`).
        **options: the options of `vaekit train` (listed below, and with their help in
            `vaekit train --help`), by their Python names: latent_dim=16, hidden_dims=(512,).

    Returns:
        The Run, with its path, config, per-epoch history, test terms and loaded Model.
    """
    opts = resolve_options({"data": data, **options})
    group, dev = from_env(resolve_device(opts["device"]))
    # Every process looks at its own machine's data; where one cannot, all stop (Group.each).
    opts = group.each(lambda: fit_options_to_data(opts, options))
    # --log's libraries, before any work, where the logging is done (the main process)
    group.on_main(lambda: check_installed(opts["log"] or ()))
    chosen = default_out(data, opts["model"]) if opts["out"] is None else opts["out"]
    out = group.on_main(lambda: check_out(chosen, overwrite, data))
    progress = progress and group.is_main
    dataset = group.main_first(lambda: _open(opts, progress))
    given = {
        name: module
        for name, module in (
            ("encoder", encoder),
            ("decoder", decoder),
            ("likelihood", likelihood_module),
            ("prior", prior_module),
        )
        if module is not None
    }
    num_classes = _num_classes(dataset) if opts["conditional"] else 0
    custom = {name: describe_custom(m) for name, m in given.items()}
    # The kind's record of the data in config.json's model.schema (a text model's adds the
    # text options).
    schema = kind(dataset.kind).part("model").record(dataset.schema, opts)
    model_config, train_config = build_configs(
        opts, dataset.shape, num_classes, custom, dataset.kind, schema
    )
    train_set, val_set = split_validation(dataset, train_config.val_fraction, train_config.seed)
    config = _run_config(opts, model_config, dataset.info, len(train_set), len(val_set or []))
    config["training"]["device"] = str(dev)
    config["training"]["precision_resolved"] = resolve_precision(
        config["training"]["precision"], dev
    ).name  # what the steps run in, not only what was asked (auto, bf16 where not native)
    new_run = group.on_main(lambda: NewRun(out, overwrite))
    try:
        if group.is_main:
            write_config(new_run.path, config)
        torch.manual_seed(train_config.seed)
        vae = build_vae(model_config, given).to(dev)
        check_kl_options(vae, train_config)
        state = make_state(vae, train_config)
        return _train_and_finish(
            new_run.path, config, dataset, train_set, val_set, state, progress, callbacks,
            new_run, group, opts["report"], active_units,
        )  # fmt: skip
    except BaseException:
        # Before its first epoch the new run is only beside --out, and goes; --out is as it was.
        if group.is_main:
            new_run.discard()
        raise
    finally:
        if group.is_main:
            new_run.release()


def _open(opts: dict[str, Any], progress: bool) -> Dataset:
    with Bars() as bars:
        return open_with_options(opts["data"], opts, bars.update if progress else None)


def _run_config(
    opts: dict[str, Any],
    model_config: ModelConfig,
    data_info: dict[str, Any],
    num_train: int,
    num_val: int,
) -> dict[str, Any]:
    """config.json for a new run: versions, then the model, data and training sections."""
    sections = config_sections(opts, model_config)
    return {
        "vaekit_version": __version__,
        "torch_version": torch.__version__,
        "model": sections["model"],
        # --kind, where the user said it, so that the run's data is read again alike (a
        # kind's data info may record the kind it read the source as over it).
        "data": {
            **sections["data"],
            "kind": opts["kind"],
            **data_info,
            "num_train": num_train,
            "num_val": num_val,
        },
        "training": sections["training"],
    }


def _signature() -> inspect.Signature:
    """train's signature with every declared option as a keyword, for help() and editors."""
    base = inspect.signature(train)
    params = [p for p in base.parameters.values() if p.kind != p.VAR_KEYWORD]
    keyword = inspect.Parameter.KEYWORD_ONLY
    params[1:1] = [
        inspect.Parameter(o.name, keyword, default=o.default)
        for o in TRAIN_OPTIONS.declared.values()
        if o.name != "data"
    ]
    return base.replace(parameters=params)


train.__signature__ = _signature()  # type: ignore[attr-defined]  (vaekit's own options)
train.__doc__ = f"{train.__doc__}\n    Options:\n{describe([*TRAIN_OPTIONS.declared.values()])}\n"


def _num_classes(dataset: Dataset) -> int:
    labels = [s.labels for s in (dataset.train, dataset.test, dataset.val) if s is not None]
    if any(part is None for part in labels):
        raise VaekitError("--conditional needs labelled data; this data has no labels")
    return max(int(part.max()) for part in labels if len(part)) + 1


def _train_and_finish(
    path: Path,
    config: dict[str, Any],
    dataset: Dataset,
    train_set: ImageSet,
    val_set: ImageSet | None,
    state: LoopState,
    progress: bool,
    extra_callbacks: Sequence[Callback],
    new_run: NewRun | None = None,
    group: Group = SINGLE,
    report: bool = True,
    count_units: bool = True,
    prepare: Any = None,
    train: bool = True,
) -> Run:
    """Train, then test and write the final files. In a group of several processes only the
    main one writes (and runs the callbacks); every process returns the Run. `prepare`: what
    a resumed run rewrites once its first epoch ends (or its wrap-up starts). train=False:
    the wrap-up alone, of a run that finished training (resumed after its wrap-up was cut)."""
    train_config = train_config_from(config)
    keep_best = train_config.patience is not None
    writer = _RunWriter(path, config_hash(config), keep_best, new_run, prepare)
    callbacks: list[Callback] = [writer]
    # --log: after the writer, so that a tracker holds no epoch that the checkpoint lacks
    tracking = _tracking(config, writer, val_set, train_config) if group.is_main else None
    if tracking is not None:
        callbacks.append(tracking)
    if progress:
        callbacks.append(ProgressBar())
    callbacks.extend(extra_callbacks)
    callbacks = callbacks if group.is_main else []
    history = (
        fit(state.model, train_set, val_set, train_config, callbacks, state, group)
        if train
        else list(state.history)
    )
    path = group.on_main(writer.place)
    device = next(state.model.parameters()).device
    final: dict[str, Any] = {"final": True, "loss_is": loss_name(train_config.iw_train)}
    short = state.epoch < train_config.epochs and not should_stop(history, train_config.patience)
    if short or (history and "cut_short" in history[-1]):  # the budget cut its last epoch
        # Before --epochs without early stopping: a callback that says why (a search's
        # pruner), else the time budget, else a user's callback.
        said = [c.stop_reason for c in extra_callbacks if getattr(c, "stop_reason", None)]
        budget = "time_budget" if train_config.time_budget else "callback"
        final["stopped_by"] = said[0] if said else budget
    if keep_best:
        # Early stopping: test (and keep) the best validation epoch's weights.
        if group.is_main:
            state.model.load_state_dict(load_file(str(path / WEIGHTS_FILE), device=str(device)))
        group.share_weights(state.model)
        final["best_epoch"] = best_epoch(history)
    elif state.ema is not None:
        state.ema.copy_to(state.model)  # --ema: test and keep the averaged weights
    c = train_config
    test = mean_loss(state.model, dataset.test.to(device), c.batch_size, c.seed, c.binarize,
                     c.iw_train, group)  # fmt: skip
    final["latents"] = {"latent_dim": state.model.latent_dim}
    if count_units and state.model.uses_latent:  # (a language model has no latent)
        # on the bits eval scores (one binarization with the run's seed), as its numbers are
        seen = binarize_once(dataset.test, c.seed) if c.binarize else dataset.test
        means = posterior_moments_of(state.model, seen, limit=CLOSING_UNITS_EXAMPLES)[0]
        final["latents"].update(active_units=active_units(means), active_units_examples=len(means))
    model_config = model_config_from(config)
    trained = Model(state.model, model_config, config)
    pictures: dict[str, Path] = {}
    if group.is_main:
        save_final(path, {**final, "test": test}, state.model)
        pictures = write_pictures(path, trained, dataset.test, history, train_config.seed)
        if report:
            pictures["report"] = write_report(path, model=trained, test=dataset.test)
        # The model card, README.md (vaekit.report.card): written last, from the files above.
        trained.rundir = path
        pictures["card"] = write_model_card(path, trained, dataset.test.pixels)
        if tracking is not None:  # last: the trackers get the files written above
            tracking.finish(state.epoch, test, final["latents"], pictures)
    return Run(
        path,
        config,
        history,
        test,
        trained,
        pictures,
        final.get("stopped_by") == "time_budget",
        final["latents"],
    )


def _tracking(
    config: dict[str, Any], writer: _RunWriter, val: ImageSet | None, train_config: TrainConfig
) -> Tracking | None:
    """The callback of the trackers that config.json's training.log names (--log), if any;
    MLflow's parameters: the recorded options as `--help` shows them (the family's own only)."""
    trackers = config["training"].get("log")
    if not trackers:
        return None
    model = {**config["model"], **config["model"]["family_options"]}
    params = {
        name: TRAIN_OPTIONS[name].kind.show(value)
        for name, value in options_from_config(config).items()
        if name in TRAIN_OPTIONS
        and (TRAIN_OPTIONS[name].section != "model" or TRAIN_OPTIONS[name].config_key in model)
    }
    return Tracking(trackers, lambda: writer.path, params, val, train_config)
