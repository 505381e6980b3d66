"""`vaekit.Model`: a trained VAE bound to how its data is scaled. Not an nn.Module.

Inputs are images (B, C, H, W) -- or (B, H, W) for one channel -- as uint8 (or the dataset's
integer range) or float in [0, 1], numpy or torch. Outputs are torch tensors on the CPU.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.apps import generate
from vaekit.data import objects
from vaekit.data.batches import ImageSet, batch_indices
from vaekit.errors import VaekitError
from vaekit.kinds.base import kind
from vaekit.memory import available_memory
from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.factory import ModelConfig
from vaekit.models.io import load_model, state_sha256, weights_sha256
from vaekit.models.vae import VAE, LossOutput
from vaekit.options import TEMPERATURE, Int
from vaekit.randomness import step_generator
from vaekit.train_options import TRAIN_OPTIONS

# Images made or scored at once: memory stays that of one batch whatever n a user asks for.
BATCH = 1024


class Model:
    """A trained VAE: encode, decode, sample, reconstruct and score images."""

    def __init__(
        self,
        vae: VAE,
        config: ModelConfig,
        run_config: dict[str, Any],
        weights_sha256: str | None = None,
    ) -> None:
        self.vae = vae.eval()
        self.config = config
        self.run_config = run_config
        self.max_value = _max_value(run_config)
        self._weights_sha256 = weights_sha256
        # The kind of data it was trained on (vaekit.kinds.base), which every question
        # particular to that kind is put to.
        self.kind = kind(config.kind)
        # The kind's record of its data, which its inputs and outputs are in (a table's
        # TableSchema, audio's AudioFeatures, a text model's Vocabulary; None for images).
        self.schema = self.kind.part("data").schema_from_json(config.schema)
        # The run directory it was loaded from (or trained into), whose files its notebook
        # summary reads; None for a model built otherwise.
        self.rundir: Path | None = None

    @property
    def weights_sha256(self) -> str:
        """Which weights these are: the sha256 (hex) of the model.safetensors they were loaded
        from, or, for a model built in memory (a run just trained), of the file they save as,
        computed once on first use."""
        if self._weights_sha256 is None:
            self._weights_sha256 = state_sha256(self.vae)
        return self._weights_sha256

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.config.shape)  # type: ignore[return-value]

    @property
    def latent_dim(self) -> int:
        """Z, the latent dimensions (all layers together for a hierarchical model)."""
        return self.vae.latent_dim

    def check_shape(self, shape: tuple[int, ...], source: str) -> None:
        """Refuse a set of images (C, H, W) of another shape than the model's, naming where
        they came from: the one check of a dataset given to a model (its values were checked
        when it was read)."""
        if tuple(shape) != self.shape:
            raise VaekitError(
                f"{source}: images of shape {tuple(shape)} (C, H, W); this model takes {self.shape}"
            )

    def prepare(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Examples in any form the model's kind accepts -> float32 (B, C, H, W) on the
        model's device: the one check of inputs given to a model (the kind's `prepare`:
        shape, value range, finiteness). Images: integers are scaled by the data's value
        range, floats must already be in [0, 1]; a table's model takes encoded rows (B, F) or
        (B, 1, 1, F), or a pandas DataFrame of rows (encoded by its schema, as their CSV);
        a series model, windows, or a DataFrame of a series (each window of it: the kind's
        `read_input`, where its data part declares DATAFRAMES); audio, standardized
        spectrograms; text, lines of token indices. Not booleans (True is no pixel value),
        nor an empty batch."""
        if objects.is_dataframe(x):
            data = self.kind.part("data")
            if not getattr(data, "DATAFRAMES", False):
                raise VaekitError(f"a DataFrame: a model of {self.kind.noun} takes an array "
                                  "of examples")  # fmt: skip
            x = data.read_input(x, self.schema, self.shape)
        _check_examples(x)
        x = _contiguous(x)
        prepared = self.kind.part("model").prepare(x, self.shape, self.schema, self.max_value)
        return prepared.to(self.device)

    def encode_lines(self, lines: list[str]) -> torch.Tensor:
        """Sentences -> lines (B, 1, 1, T) on the model's device, each truncated to the
        vocabulary's max_length tokens (the kind's `encode_lines`: a text model's only). A
        sentence of no words is refused: it would read as a bare <eos>, which no input
        means."""
        encode = getattr(self.kind.part("model"), "encode_lines", None)
        if encode is None:
            raise VaekitError(f"sentences are for a text model; this one is of {self.kind.noun}")
        if isinstance(lines, str) or not all(isinstance(line, str) for line in lines):
            raise VaekitError("expected a list of sentences, each a str (one sentence: "
                              "encode_lines([text]))")  # fmt: skip
        return encode(lines, self.schema).to(self.device)

    @property
    def data_kind(self) -> str:
        """What the model was trained on, as eval.json's "data_kind" says it: the kind's name
        (one of vaekit.kinds.base.kind_names()), or its data part's DATA_KIND where it has one
        (an image model's is the plural, as eval.json has always written it)."""
        return getattr(self.kind.part("data"), "DATA_KIND", self.kind.name)

    def require_images(self, what: str) -> None:
        """Refuse a model of a kind whose examples are no images (a table's, audio, text) for
        a command made for images."""
        if not getattr(self.kind.part("model"), "IMAGES", False):
            raise VaekitError(
                f"{what} works on images; this run's model is of {self.kind.noun} (its "
                "commands: eval, sample, reconstruct, interpolate, anomaly, embed, report)"
            )

    @property
    def num_classes(self) -> int:
        """The number of classes of a conditional model (0: unconditional)."""
        return self.vae.num_classes

    @property
    def class_names(self) -> list[str] | None:
        """The names of the data's classes by label index, where the data names them (image
        subfolders, a table's --target values, audio labels, a registered dataset's classes):
        config.json's data.classes; None where it does not (labels are then their indices)."""
        names = self.run_config.get("data", {}).get("classes")
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            return names
        return None

    def class_indices(self, labels: list[int | str], names: list[str] | None = None) -> list[int]:
        """Each label as its class index: an int, or a string of digits ("3", as the command
        line gives it), as the index it is (as always: a class named "3" is given by its
        index); another string as the index of the class of that name. `names`: the classes
        by index (default: `class_names`). An unknown name is refused, naming the classes;
        indices are checked by the caller."""
        known = names if names is not None else (self.class_names or [])
        found = []
        for label in labels:
            if isinstance(label, str):
                try:
                    label = int(label)
                except ValueError:
                    if label not in known:
                        said = self.classes_said(known)
                        raise VaekitError(f"no class named {label!r} ({said})") from None
                    label = known.index(label)
            found.append(label)
        return found

    def classes_said(self, names: list[str] | None = None) -> str:
        """The run's classes by index and name, for a message."""
        known = names if names is not None else (self.class_names or [])
        if not known:
            return "this run's classes have no names: give their indices"
        return "the run's classes by index: " + ", ".join(f"{i} {n}" for i, n in enumerate(known))

    def labels(self, labels: Any, n: int) -> torch.Tensor | None:
        """Class labels for n inputs as a (n,) tensor on the model's device: one int for all,
        or one each. Required by a conditional model, refused by an unconditional one."""
        if not self.num_classes:
            if labels is not None:
                raise VaekitError("labels are for a conditional model (trained --conditional)")
            return None
        if labels is None:
            raise VaekitError(
                f"this model is conditional: give a class label (0..{self.num_classes - 1})"
            )
        wrong = VaekitError(f"class labels must be integers in 0..{self.num_classes - 1}")
        if hasattr(labels, "tolist") and not isinstance(labels, torch.Tensor):
            labels = labels.tolist()  # (a NumPy array or a pandas Series of names or indices)
        if isinstance(labels, str) or (
            isinstance(labels, list | tuple) and any(isinstance(a, str) for a in labels)
        ):  # class names, where the data named its classes
            labels = self.class_indices([labels] if isinstance(labels, str) else list(labels))
        try:
            raw = torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError):  # "x", 10**30, ...
            raise wrong from None
        if raw.dtype == torch.bool or raw.is_complex() or not torch.equal(raw, raw.round()):
            raise wrong  # 2.5 is no class; 2.0 is class 2
        y = raw.to(torch.long).reshape(-1)
        if len(y) == 1:
            y = y.expand(n)
        if len(y) != n:
            raise VaekitError(f"expected 1 or {n} labels, got {len(y)}")
        if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
            named = f"; {self.classes_said()}" if self.class_names else ""
            raise VaekitError(f"class labels must be in 0..{self.num_classes - 1}{named}")
        return y.to(self.device)

    def require_unconditional(self, what: str) -> None:
        if self.num_classes:
            raise VaekitError(
                f"{what} works on unconditional models; this one is conditional (it supports "
                "sample --label, reconstruct -n (of its test split, whose labels it has) and "
                "eval)"
            )

    @torch.no_grad()
    def encode(self, x: np.ndarray | torch.Tensor, labels: Any = None) -> DiagonalGaussian:
        """q(z|x) for images x (and their labels, for a conditional model); `.mean` and `.std`
        are (B, Z). For a hierarchical model or a flow posterior, a diagonal Gaussian with the
        posterior's mean and standard deviation (`VAE.posterior_moments`; the posterior itself
        is not Gaussian: draw from it with `posterior_sample`)."""
        x = self.prepare(x)
        mean, std = self.vae.posterior_moments(x, self.labels(labels, len(x)))
        return DiagonalGaussian(mean.cpu(), 2 * std.log().cpu())

    @torch.no_grad()
    def decode(self, z: np.ndarray | torch.Tensor, labels: Any = None) -> torch.Tensor:
        """The likelihood's mean for latents z (B, Z): images (B, C, H, W), clamped to the
        pixel range as `sample`, `reconstruct` and an exported decoder give them (a Gaussian
        likelihood's mean may stray outside it); a table's rows, text's lines and audio's
        spectrograms as they are."""
        try:
            z = torch.as_tensor(_contiguous(z), dtype=torch.float32, device=self.device)
        except (TypeError, ValueError, RuntimeError):
            raise VaekitError(f"expected latents (B, {self.latent_dim}) as numbers, got "
                              f"{type(z).__name__}") from None  # fmt: skip
        if not bool(torch.isfinite(z).all()):
            raise VaekitError("latents must be finite numbers (got NaN or infinity)")
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise VaekitError(
                f"expected latents shaped (B, {self.latent_dim}), got {tuple(z.shape)}"
            )
        return self.vae.mean_image(z, self.labels(labels, len(z))).cpu()

    def sample(
        self, n: int, seed: int | None = None, temperature: float = 1.0, label: Any = None
    ) -> torch.Tensor:
        """n new images (n, C, H, W) in [0, 1]; `seed` makes them reproducible. A conditional
        model draws class `label` (an int, or one per image). One tensor of all of them: more
        than the memory available is refused (sample_batches gives them a batch at a time)."""
        n = checked_count("the number of samples", n)
        _refuse_beyond_memory(f"sample({n:,})", n * math.prod(self.shape) * 4,
                              "draw them with sample_batches (or `vaekit sample --npy`), a "
                              "batch at a time")  # fmt: skip
        return torch.cat(list(self.sample_batches(n, seed, temperature, label)))

    def sample_batches(
        self,
        n: int,
        seed: int | None = None,
        temperature: float = 1.0,
        label: Any = None,
        batch: int = BATCH,
    ) -> Iterator[torch.Tensor]:
        """`sample`, `batch` images at a time (on the CPU): memory stays that of one batch.
        Batch k draws from a generator keyed by (seed, k), the first from `seed` itself (so up
        to `batch` images are those one draw of n makes)."""
        n = checked_count("the number of samples", n)
        batch = checked_count("batch", batch)  # (0: range()'s error; -1: no batches, silently)
        try:
            temperature = TEMPERATURE.check(temperature)
        except ValueError as err:
            raise VaekitError(f"temperature: {err}") from None
        self._warn_without_prior()
        seed = torch.Generator().seed() if seed is None else checked_seed(seed)
        y = self.labels(label, n)
        for k, start in enumerate(range(0, n, batch)):
            if k == 0:
                generator = torch.Generator(self.device).manual_seed(seed)
            else:
                generator = step_generator(seed, k, self.device)
            count = min(batch, n - start)
            part = None if y is None else y[start : start + count]
            yield generate.sample(self.vae, count, generator, temperature, part).cpu()

    def take_later_stages(self) -> None:
        """Take what a later stage saved in the run directory since this model was loaded (a
        VQ-VAE's code prior, after `vaekit.fit_prior`), where the model lacks it."""
        refusal = getattr(self.vae, "sampling_refusal", None)
        if refusal is not None and self.rundir is not None and refusal(self.rundir):
            self.vae.attach_run(self.rundir)

    def _warn_without_prior(self) -> None:
        """A model loaded from a folder that its sampling needs more of (a VQ-VAE without
        its code prior, which `vaekit sample` refuses) says so once, then samples as it can
        (a VQ-VAE from the uniform prior over codes)."""
        self.take_later_stages()
        refusal = getattr(self.vae, "sampling_refusal", None)
        why = refusal(self.rundir) if refusal is not None and self.rundir is not None else None
        if why is not None and not getattr(self, "_warned_prior", False):
            self._warned_prior = True
            warnings.warn(f"{why}: these samples are drawn from the uniform prior over codes",
                          stacklevel=4)  # fmt: skip

    @torch.no_grad()
    def reconstruct(self, x: np.ndarray | torch.Tensor, labels: Any = None) -> torch.Tensor:
        """Reconstructions (B, C, H, W) in [0, 1] through the posterior mean."""
        x = self.prepare(x)
        return self.vae.reconstruct(x, self.labels(labels, len(x))).cpu()

    @torch.no_grad()
    def posterior_mean(self, x: np.ndarray | torch.Tensor, labels: Any = None) -> torch.Tensor:
        """E_q[z|x] for images x: (B, Z)."""
        x = self.prepare(x)
        return self.vae.posterior_mean(x, self.labels(labels, len(x))).cpu()

    @torch.no_grad()
    def posterior_sample(
        self, x: np.ndarray | torch.Tensor, n: int = 1, seed: int = 0, labels: Any = None
    ) -> torch.Tensor:
        """n draws z ~ q(z|x) for each image, seeded: (B, n, Z)."""
        n = checked_count("the number of posterior samples", n)
        x = self.prepare(x)
        _refuse_beyond_memory(f"posterior_sample(n={n:,})", len(x) * n * self.latent_dim * 4,
                              "draw fewer at a time, each with its own seed")  # fmt: skip
        generator = torch.Generator(self.device).manual_seed(checked_seed(seed))
        return self.vae.posterior_sample(x, self.labels(labels, len(x)), n, generator).cpu()

    @torch.no_grad()
    def elbo(self, x: np.ndarray | torch.Tensor, seed: int = 0, labels: Any = None) -> LossOutput:
        """Per-example terms (B,) in nats, one posterior sample each: loss = rec + kl = -ELBO."""
        generator = torch.Generator(self.device).manual_seed(checked_seed(seed))
        x = self.prepare(x)
        out = self.vae.loss(x, generator, y=self.labels(labels, len(x)))
        return LossOutput(out.loss.cpu(), out.rec.cpu(), out.kl.cpu())

    def reconstruct_first(self, images: ImageSet, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first n examples of a set, scaled by the set's own value range, and their
        reconstructions: two (n, C, H, W) tensors (in [0, 1] for images)."""
        self.check_shape(images.shape, "the data")
        inputs = images.scaled(slice(0, n))
        labels = images.labels[:n] if self.num_classes and images.labels is not None else None
        outputs = [
            self.reconstruct(inputs[index], None if labels is None else labels[index])
            for index in batch_indices(len(inputs), BATCH, shuffle=False)
        ]
        return inputs, torch.cat(outputs) if outputs else inputs.clone()

    def _repr_html_(self) -> str:
        """A notebook's summary: the configuration, the test figures of its run directory
        (where it was loaded from one) and a few samples (vaekit.api.card.model_html)."""
        from vaekit.api.card import model_html  # it imports this module

        return model_html(self, self.rundir)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Model({c.family}, shape={tuple(c.shape)}, latent_dim={c.latent_dim}, "
            f"likelihood={c.likelihood})"
        )


def reconstruct_first(model: Model, images: ImageSet, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n images of a set, scaled by the set's own value range, and their
    reconstructions: two (n, C, H, W) tensors in [0, 1] (`Model.reconstruct_first`)."""
    return model.reconstruct_first(images, n)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str) -> torch.device:
    """ "auto" (CUDA when present, else Apple's MPS when present, else the CPU), "cpu", "cuda",
    "cuda:N" or "mps"; an unavailable one is an error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise VaekitError(f"unknown device {device!r}: use auto, cpu, cuda or mps") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise VaekitError(f"--device {device}: no CUDA device is available here")
        if dev.index is not None and dev.index >= count:
            raise VaekitError(f"--device {device}: there are {count} CUDA devices")
    elif dev.type == "mps":
        if not _mps_available():
            raise VaekitError(f"--device {device}: no Apple MPS device is available here")
    elif dev.type != "cpu":
        raise VaekitError(f"--device {device}: vaekit runs on cpu, cuda or mps")
    else:
        dev = torch.device("cpu")  # "cpu:0" is the one CPU device (safetensors takes "cpu")
    return dev


# What the Model's arguments are, as the options declare them (vaekit.options' kinds: numpy's
# numbers taken, bool refused): a count, a temperature, and a seed as --seed takes it.
COUNT, SEED = Int(least=1), TRAIN_OPTIONS["seed"].kind


def _refuse_beyond_memory(call: str, need: int, instead: str) -> None:
    """One tensor of `need` bytes returned by `call`: refused where it is more than the
    memory available (the allocator's own error named 3,200,000,000,000 bytes and no call)."""
    have = available_memory()
    if have is not None and need > have:
        raise VaekitError(
            f"{call} returns one tensor of {need / 2**30:,.1f} GiB, more than the "
            f"{have / 2**30:,.1f} GiB of memory available: {instead}"
        )


def _contiguous(x: Any) -> Any:
    """A numpy array as torch can take it: a view with negative strides (np.flip) copied
    (torch refused it: "At least one stride in the given numpy array is negative")."""
    if isinstance(x, np.ndarray) and any(stride < 0 for stride in x.strides):
        return np.ascontiguousarray(x)
    return x


def checked_count(what: str, n: Any, least: int = 1) -> int:
    """`n` as a whole number of at least `least` (numpy's too), else a one-line VaekitError."""
    try:
        value = COUNT.check(n)
    except ValueError:
        value = None
    if value is None or value < least:
        raise VaekitError(f"{what} must be a whole number of at least {least}, got {n!r}")
    return value


def checked_seed(seed: Any) -> int:
    """`seed` as --seed takes it (numpy's integers too), else a one-line VaekitError."""
    try:
        return SEED.check(seed)
    except ValueError as err:
        raise VaekitError(f"a seed must be a whole number, as --seed takes: {err}") from None


def _check_examples(x: Any) -> None:
    """Refuse what no kind takes as examples, before the kind reads them: booleans (read as
    integers, True became 1 / max_value, an almost black pixel), an empty batch, or text (a
    text's sentences are encoded first)."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and (dtype == torch.bool or dtype == np.bool_):
        raise VaekitError("boolean examples: give pixel values (uint8, or float in [0, 1])")
    if isinstance(x, str) or (isinstance(x, list | tuple) and any(isinstance(v, str) for v in x)):
        raise VaekitError("text (a file's path?): examples are arrays, a file's read first; "
                          "a text model's lines encoded, model.encode_lines([...])")  # fmt: skip
    if hasattr(x, "__len__") and len(x) == 0:
        raise VaekitError("no examples given (an empty batch)")


def _max_value(run_config: dict[str, Any]) -> float:
    """The data's largest pixel value, which config.json records (255 where it does not)."""
    data = run_config.get("data", {})
    value = data.get("max_value", 255) if isinstance(data, dict) else None
    if type(value) not in (int, float) or not 0 < value < float("inf"):
        raise VaekitError(f"config.json: data.max_value must be a positive number, got {value!r}")
    return float(value)


def run_path(rundir: Any) -> Path:
    """A run directory as a Path, `~` expanded: a path given as text or a Path, or a Run
    (what vaekit.train returns: its folder)."""
    found = getattr(rundir, "path", rundir) if not isinstance(rundir, str | Path) else rundir
    if not isinstance(found, str | Path):
        raise VaekitError(f"expected a run directory (a path), got {type(rundir).__name__}")
    return Path(found).expanduser()


def load(rundir: str | Path, device: str | torch.device = "cpu") -> Model:
    """Load the model of a run directory (config.json + model.safetensors; a path, `~`
    expanded, or a Run) onto `device`: "cpu", "cuda", "cuda:N", "mps" or "auto"
    (`resolve_device`: an unavailable one is an error). Its computations run there; what
    its methods return is on the CPU."""
    rundir = run_path(rundir)
    vae, config, run_config = load_model(rundir, resolve_device(str(device)))
    model = Model(vae, config, run_config, weights_sha256(rundir))
    model.rundir = Path(rundir)  # a folder of config.json and model.safetensors is enough
    attach = getattr(vae, "attach_run", None)
    if attach is not None:  # what later stages saved there (a VQ-VAE's code prior)
        attach(rundir)
    return model
