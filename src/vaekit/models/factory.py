"""ModelConfig -> VAE, through registries of network families, likelihoods and priors.

The config is everything needed to rebuild the model without the training code; it is saved
as the "model" section of config.json beside model.safetensors.

Users' own modules (an encoder, decoder, likelihood or prior) are recorded in `custom` by import
path ("package.module:Class") and keyword arguments (the module's `vaekit_kwargs` attribute, a
JSON-ready dict, or none), so that loading can rebuild them where that code is importable.

A config may come from an untrusted file, so its sizes are checked against a budget before any
module is built: the images' size, the number of layers, each width, and the parameters of the
whole model, counted by building it on PyTorch's meta device (shapes only, no memory).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vaekit.data.spectrograms import AudioFeatures
from vaekit.data.tables import TableSchema
from vaekit.errors import VaekitError
from vaekit.kinds.base import family, import_object
from vaekit.models.likelihoods import (
    BernoulliLikelihood,
    DiscretizedLogisticLikelihood,
    DiscretizedLogisticMixtureLikelihood,
    GaussianLikelihood,
    LearnedGaussianLikelihood,
    PixelGaussianLikelihood,
)
from vaekit.models.pixelcnn import AutoregressiveLikelihood
from vaekit.models.priors import MixtureOfGaussians, StandardNormal, VampPrior
from vaekit.models.tables import MixedLikelihood, TableDecoder, TableEncoder, TableVAE
from vaekit.models.text import TextSpec, TokenLikelihood
from vaekit.models.vae import VAE
from vaekit.train_options import DEFAULTS as _D
from vaekit.train_options import TRAIN_OPTIONS

COMPONENTS = ("encoder", "decoder", "likelihood", "prior")

# The size budget. 10**9 parameters are 4 GB of float32 weights (16 GB with Adam's state),
# several times the largest VAEs published; 2**26 values per image is a 3 x 4096 x 4096 RGB
# image; 64 layers per list (and residual blocks per stage, and hvae layers) is far deeper
# than these families train well.
MAX_PARAMETERS = 10**9
MAX_IMAGE_VALUES = 1 << 26
MAX_LAYERS = 64


@dataclass(frozen=True)
class ModelConfig:
    """What rebuilds a model: the data's shape, then the model options (declared, with their
    defaults and help, in vaekit.train_options), then what training fills in."""

    shape: tuple[int, ...]  # (C, H, W) of the data
    family: str = _D["model"]
    latent_dim: int = _D["latent_dim"]  # Z; per stochastic layer for hvae, per map for hconv
    hidden_dims: tuple[int, ...] = _D["hidden_dims"]  # MLP widths (hvae: the first)
    channels: tuple[int, ...] = _D["channels"]  # conv/resnet widths, one stride-2 stage each
    depth: int = _D["depth"]  # resnet: residual blocks per stage
    layers: int = _D["layers"]  # hvae: stochastic layers; hconv: latent groups per scale
    likelihood: str = _D["likelihood"]
    gaussian_std: float = _D["gaussian_std"]  # the fixed std, or the learned one's start
    gaussian_variance: str = _D["gaussian_variance"]
    mixtures: int = _D["mixtures"]  # logistic-mixture components
    autoregressive: int = _D["autoregressive"]  # PixelCNN gated layers; 0: none
    ar_kernel: int = _D["ar_kernel"]
    ar_width: int = _D["ar_width"]
    prior: str = _D["prior"]
    prior_components: int = _D["prior_components"]  # mog components / vamp pseudo-inputs
    flow_steps: int = _D["flow_steps"]  # IAF steps on top of the Gaussian posterior
    flow_hidden: int = _D["flow_hidden"]  # their hidden width and the context's
    num_classes: int = 0  # > 0: a conditional VAE on that many classes (--conditional)
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The kind of data (vaekit.kinds.base.Kind, by name) and its record of the data, as JSON,
    # which its parts read: a table's columns, audio's spectrogram settings and statistics, a
    # text model's vocabulary and options; None for images.
    kind: str = "image"
    schema: dict[str, Any] | None = None

    # TRANSITIONAL (issue 26): the records by their old names, until every caller asks the kind.
    @property
    def table(self) -> dict[str, Any] | None:
        return self.schema if self.kind == "table" else None

    @property
    def audio(self) -> dict[str, Any] | None:
        return self.schema if self.kind == "audio" else None

    @property
    def text(self) -> dict[str, Any] | None:
        return self.schema if self.kind == "text" else None

    def validate(self) -> None:
        """Each option against its declaration, then the combinations and the registries."""
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise VaekitError(f"model shape must be (C, H, W), got {self.shape}")
        declared = {o.name: getattr(self, o.config_key) for o in TRAIN_OPTIONS.in_section("model")}
        TRAIN_OPTIONS.check(declared, "model")
        own = family(self.family)
        _choice("likelihood", self.likelihood, LIKELIHOODS)
        _choice("prior", self.prior, PRIORS)
        if self.num_classes < 0:
            raise VaekitError(f"num classes must be at least 0, got {self.num_classes}")
        unknown = set(self.custom) - set(COMPONENTS)
        if unknown:
            raise VaekitError(f"custom: unknown component {sorted(unknown)[0]!r}")
        if own.hierarchical:
            self._check_hierarchy()
        if self.flow_steps and "encoder" in self.custom:
            raise VaekitError("--flow-steps needs vaekit's own encoder (it outputs the context)")
        if self.autoregressive:
            self._check_autoregressive()
        if self.prior == "vamp" and self.num_classes:
            raise VaekitError("--prior vamp and --conditional cannot be combined")
        self._check_table()
        self._check_audio()
        self._check_text()
        self.check_size()

    def _check_hierarchy(self) -> None:
        """hvae and hconv: their own hierarchical prior and posterior, and enough layers."""
        f = self.family
        if self.prior != "standard-normal" or self.num_classes or self.custom:
            raise VaekitError(
                f"{f} has its own hierarchical prior: it takes no --prior, --conditional "
                "or custom modules"
            )
        if self.flow_steps:
            raise VaekitError(
                f"--flow-steps: {f}'s posterior is its own hierarchy; flows are for --model "
                "mlp, conv or resnet"
            )
        if self.autoregressive:
            raise VaekitError(f"--autoregressive works with --model mlp, conv or resnet, not {f}")
        if f == "hvae" and self.layers < 2:
            raise VaekitError(f"--model hvae needs at least 2 --layers, got {self.layers}")
        if f == "hconv":
            from vaekit.models.hconv import check_sizes

            why = check_sizes(self.shape, self.channels, self.latent_dim, self.layers)  # type: ignore[arg-type]
            if why:
                raise VaekitError(why)

    def _check_autoregressive(self) -> None:
        if self.likelihood == "gaussian" and "likelihood" not in self.custom:
            raise VaekitError(
                "--autoregressive models binary or 8-bit pixels: use --likelihood bernoulli, "
                "logistic, logistic-mixture or logistic-mixture-coupled"
            )
        if self.ar_kernel % 2 == 0:
            raise VaekitError(f"--ar-kernel must be odd, got {self.ar_kernel}")

    def _check_table(self) -> None:
        """A table model: its schema, and the options that fit rows (an MLP, the mixed
        likelihood, no conditioning, no VampPrior); the mixed likelihood only for a table."""
        if self.table is None:
            if self.likelihood == "mixed":
                raise VaekitError(
                    "--likelihood mixed is for tables (.csv, .parquet data): for images choose "
                    f"from {', '.join(k for k in LIKELIHOODS if k != 'mixed')}"
                )
            return
        schema = TableSchema.from_json(self.table)
        if self.shape != (1, 1, len(schema.columns)):
            raise VaekitError(
                f"a table of {len(schema.columns)} columns has shape (1, 1, "
                f"{len(schema.columns)}), not {self.shape}"
            )
        refused = [
            (self.family != "mlp", f"--model {self.family}", "--model mlp"),
            (self.likelihood != "mixed", f"--likelihood {self.likelihood}", "--likelihood mixed"),
            (self.num_classes > 0, "--conditional", "an unconditional model"),
            (self.prior == "vamp", "--prior vamp", "--prior standard-normal or mog"),
            (self.flow_steps > 0, "--flow-steps", "a Gaussian posterior (--flow-steps 0)"),
            (self.autoregressive > 0, "--autoregressive", "no autoregressive decoder"),
        ]
        for wrong, given, wanted in refused:
            if wrong:
                raise VaekitError(f"{given} does not fit a table: tables take {wanted}")

    def _check_audio(self) -> None:
        """An audio model: its record, the shape it implies, and a Gaussian likelihood (the
        spectrograms are standardized real numbers) without an autoregressive decoder."""
        if self.audio is None:
            return
        features = AudioFeatures.from_json(self.audio)
        if self.table is not None:
            raise VaekitError("a model is of a table or of audio, not both")
        if self.shape != features.shape:
            raise VaekitError(
                f"audio spectrograms of {features.n_mels} mel bins and {features.frames} frames "
                f"have shape {features.shape}, not {self.shape}"
            )
        if self.likelihood != "gaussian" and "likelihood" not in self.custom:
            raise VaekitError(
                f"--likelihood {self.likelihood} does not fit audio: its standardized log-mel "
                "spectrograms take --likelihood gaussian"
            )
        if self.autoregressive:
            raise VaekitError("--autoregressive does not fit audio: it models 8-bit pixels")

    def _check_text(self) -> None:
        """A text model: its record, and the options that fit sentences (--model rnn, the
        categorical likelihood, no conditioning, a Gaussian posterior); those only for text."""
        if self.text is None:
            for given, value in (("--model", self.family), ("--likelihood", self.likelihood)):
                if value in ("rnn", "categorical"):
                    raise VaekitError(f"{given} {value} is for text (.txt data)")
            return
        spec = TextSpec.from_json(self.text)
        if self.table is not None or self.audio is not None:
            raise VaekitError("a model is of one kind of data: a table, audio or text")
        if self.shape != (1, 1, spec.vocab.max_length + 1):
            raise VaekitError(
                f"text of at most {spec.vocab.max_length} tokens has shape (1, 1, "
                f"{spec.vocab.max_length + 1}), not {self.shape}"
            )
        refused = [
            (self.family != "rnn", f"--model {self.family}", "--model rnn"),
            (self.likelihood != "categorical", f"--likelihood {self.likelihood}",
             "--likelihood categorical"),
            (self.num_classes > 0, "--conditional", "an unconditional model"),
            (self.prior == "vamp", "--prior vamp", "--prior standard-normal or mog"),
            (self.flow_steps > 0, "--flow-steps", "a Gaussian posterior (--flow-steps 0)"),
            (self.autoregressive > 0, "--autoregressive", "no --autoregressive (it is already)"),
            (bool(self.custom), "custom modules", "vaekit's own modules"),
        ]  # fmt: skip
        for wrong, given, wanted in refused:
            if wrong:
                raise VaekitError(f"{given} does not fit text: text takes {wanted}")

    def check_size(self) -> None:
        """The size budget (MAX_IMAGE_VALUES, MAX_LAYERS, MAX_PARAMETERS), before anything is
        allocated: each size alone, then the parameters of the model built from them."""
        if math.prod(self.shape) > MAX_IMAGE_VALUES:
            raise VaekitError(
                f"model shape {self.shape}: {math.prod(self.shape):,} values per image, more "
                f"than the {MAX_IMAGE_VALUES:,} vaekit builds models for"
            )
        counts = (("hidden dims", len(self.hidden_dims)), ("channels", len(self.channels)))
        counts += (("depth", self.depth), ("layers", self.layers), ("flow steps", self.flow_steps))
        counts += (("autoregressive", self.autoregressive),)
        for what, count in counts:
            if count > MAX_LAYERS:
                raise VaekitError(f"{what}: {count} layers, more than {MAX_LAYERS}")
        sizes = {
            "latent dim": self.latent_dim,
            "hidden dims": max(self.hidden_dims),
            "channels": max(self.channels),
            "mixtures": self.mixtures,
            "prior components": self.prior_components,
            "flow hidden": self.flow_hidden * self.flow_steps,
            "num classes": self.num_classes,
            "ar width": self.ar_width,
            "ar kernel": self.ar_kernel**2,
        }
        for what, size in sizes.items():  # each alone makes at least this many parameters
            if size > MAX_PARAMETERS:
                raise VaekitError(f"{what}: {size:,} is more than the {MAX_PARAMETERS:,} budget")
        count = parameter_count(self)
        if count > MAX_PARAMETERS:
            raise VaekitError(
                f"this model would have {count:,} parameters, more than the "
                f"{MAX_PARAMETERS:,} vaekit builds: lower --latent-dim, --hidden-dims, "
                "--channels or the image size"
            )


def _choice(what: str, value: str, known: Any) -> None:
    if value not in known:
        raise VaekitError(f"unknown {what} {value!r}: choose from {', '.join(known)}")


# Registries: a config names a component, the registry builds it from the config. The families
# are declared in vaekit.kinds.base, each naming its builder (vaekit.models.families).
Builder = Callable[..., nn.Module]


def _gaussian(c: ModelConfig) -> nn.Module:
    if c.gaussian_variance == "global":
        return LearnedGaussianLikelihood(c.gaussian_std)
    if c.gaussian_variance == "pixel":
        return PixelGaussianLikelihood()
    return GaussianLikelihood(c.gaussian_std)


LIKELIHOODS: dict[str, Builder] = {
    "bernoulli": lambda c: BernoulliLikelihood(),
    "gaussian": _gaussian,
    "logistic": lambda c: DiscretizedLogisticLikelihood(),
    "logistic-mixture": lambda c: DiscretizedLogisticMixtureLikelihood(c.mixtures),
    "logistic-mixture-coupled": lambda c: DiscretizedLogisticMixtureLikelihood(
        c.mixtures, coupled=True
    ),
    "mixed": lambda c: MixedLikelihood(
        TableSchema.from_json(c.table), c.gaussian_variance, c.gaussian_std
    ),
    "categorical": lambda c: TokenLikelihood(),
}
PRIORS: dict[str, Builder] = {
    "standard-normal": lambda c: StandardNormal(c.latent_dim),
    "mog": lambda c: MixtureOfGaussians(c.latent_dim, c.prior_components),
    "vamp": lambda c: VampPrior(c.latent_dim, tuple(c.shape), c.prior_components),
}


def build_vae(config: ModelConfig, modules: dict[str, nn.Module] | None = None) -> VAE:
    """The VAE a config describes. `modules` gives user modules for components that `custom`
    records; any it lacks are imported and constructed from their recorded import paths."""
    config.validate()
    given = dict(modules or {})
    parts = {
        name: given[name] if given.get(name) is not None else _rebuild(name, record)
        for name, record in config.custom.items()
    }
    vae = _assemble(config, parts)
    if config.audio is not None:
        vae.mean_bounds = None  # standardized log-mel spectrograms: real numbers, no clamp
    return vae


def _assemble(config: ModelConfig, parts: dict[str, nn.Module]) -> VAE:
    """The VAE from the config's built-in components and the given `parts`: the likelihood
    here, the rest by the builder its family declares (vaekit.kinds.base)."""

    def part(name: str, build: Callable[[], nn.Module]) -> nn.Module:
        return parts[name] if name in parts else build()

    likelihood = part("likelihood", lambda: LIKELIHOODS[config.likelihood](config))
    if config.table is not None:
        schema = TableSchema.from_json(config.table)
        return TableVAE(
            part("encoder", lambda: TableEncoder(schema, config.latent_dim, config.hidden_dims)),
            part(
                "decoder",
                lambda: TableDecoder(config.latent_dim, config.hidden_dims, likelihood.width),
            ),
            likelihood,
            part("prior", lambda: PRIORS[config.prior](config)),
        )
    declared = family(config.family)
    if config.autoregressive and not declared.hierarchical:
        likelihood = AutoregressiveLikelihood(
            likelihood, config.shape[0], config.ar_width, config.autoregressive, config.ar_kernel
        )
    return declared.load_builder()(config, likelihood, parts)


class _Absent(nn.Module):
    """Stands in for a user's module while the built-in ones are counted: no parameters."""

    params_per_channel = 1
    width = 1  # a table decoder's output, where the likelihood is the user's

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim


def parameter_count(config: ModelConfig) -> int:
    """The parameters and buffers of the modules vaekit builds for `config` (users' own
    modules not counted), built on the meta device: shapes only, nothing allocated."""
    stand_ins: dict[str, nn.Module] = {name: _Absent(config.latent_dim) for name in config.custom}
    try:
        with torch.device("meta"):
            model = _assemble(config, stand_ins)
    except (RuntimeError, ValueError, OverflowError) as err:  # sizes beyond int64
        raise VaekitError(f"this model is too large to build ({err})") from None
    return _numel(model)


def _numel(module: nn.Module) -> int:
    return sum(t.numel() for t in itertools.chain(module.parameters(), module.buffers()))


def describe_custom(module: nn.Module) -> dict[str, Any]:
    """How config.json records a user's module: its import path and keyword arguments."""
    cls = type(module)
    kwargs = getattr(module, "vaekit_kwargs", {})
    if not isinstance(kwargs, dict):
        raise VaekitError(f"{cls.__name__}.vaekit_kwargs must be a dict of JSON values")
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "kwargs": kwargs}


def _rebuild(component: str, record: dict[str, Any]) -> nn.Module:
    """Import and construct a user's module from its record. Only an nn.Module subclass is
    ever called, so a config cannot name an arbitrary function to run."""
    path = record.get("class", "")
    where = f"config.json: custom {component} {path!r}"
    try:
        target = import_object(str(path))
    except (ImportError, AttributeError, ValueError) as err:
        raise VaekitError(
            f"{where} cannot be imported here ({type(err).__name__}: {err}); make that code "
            "importable (install it or add it to PYTHONPATH) to load this run"
        ) from None
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        raise VaekitError(f"{where} is not an nn.Module class")
    kwargs = record.get("kwargs") or {}
    try:
        with torch.device("meta"):  # sized first, without memory: the file may be hostile
            probe = target(**kwargs)
    except Exception:
        probe = None  # a module that cannot be built on the meta device: built as it is
    if probe is not None and _numel(probe) > MAX_PARAMETERS:
        raise VaekitError(
            f"{where}: {_numel(probe):,} parameters, more than the {MAX_PARAMETERS:,} budget"
        )
    try:
        return target(**kwargs)
    except Exception as err:  # the user's constructor: whatever it raises, say so in one line
        raise VaekitError(
            f"{where} could not be built from its kwargs ({type(err).__name__}: {err})"
        ) from None
