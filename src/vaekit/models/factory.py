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
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import ModuleType
from typing import Any

import torch
from torch import nn

from vaekit import components
from vaekit.errors import VaekitError
from vaekit.kinds.base import (
    DEFAULT_KIND,
    FAMILIES,
    KINDS,
    Family,
    family,
    family_names,
    import_object,
    kind,
)
from vaekit.models.pixelcnn import AutoregressiveLikelihood
from vaekit.models.vae import VAE
from vaekit.options import Option
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
    """What rebuilds a model: the data's shape, the family and its own options, then the model
    options every family shares (each declared, with its default and help, in
    vaekit.train_options), then what training fills in.

    Build one with `ModelConfig.create`, which sorts keywords into the shared fields and the
    family's own options; the constructor takes family_options as a dict."""

    shape: tuple[int, ...]  # (C, H, W) of the data
    family: str = _D["model"]
    # The options that are the family's own (its declaration's `options`, vaekit.kinds.base),
    # by config key: mlp's hidden_dims, resnet's channels and depth. Exactly those: each one
    # absent is filled in at its declared default; one the family does not take is refused by
    # validate.
    family_options: dict[str, Any] = field(default_factory=dict)
    latent_dim: int = _D["latent_dim"]  # Z; per stochastic layer for hvae, per map for hconv
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
    # text model's vocabulary and options; None for images (the kind a config that names none is
    # of, as config.json's migration reads a run without a record).
    kind: str = DEFAULT_KIND
    schema: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        """family_options completed: each of the family's own options that is absent at its
        declared default, and lists (as JSON holds widths) as tuples. An unknown family, and
        an option the family does not take, are left for validate to refuse."""
        if self.family not in family_names():
            return
        declared = FAMILIES.get(self.family)
        own = {key: family_option(declared, key).default for key in declared.options}
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in self.family_options.items()}
        object.__setattr__(self, "family_options", {**own, **given})

    @classmethod
    def create(
        cls, shape: tuple[int, ...], family: str = _D["model"], **options: Any
    ) -> ModelConfig:
        """A config from keywords named as its fields or as the family's own options, each
        sorted into its place: `ModelConfig.create((1, 28, 28), family="mlp",
        hidden_dims=(16,), latent_dim=2)`. An option that only another family takes is refused
        in one line (it would do nothing), and so is a name that is no model option at all."""
        declared = FAMILIES.get(family)
        own = dict(options.pop("family_options", {}))
        for name, value in options.items():
            if name in _FIELDS:
                continue
            if name not in declared.options:
                if _flag(name) is None:
                    raise VaekitError(f"ModelConfig: unknown option {name!r}")
                raise VaekitError(foreign_option(declared, name))
            own[name] = value
        kept = {k: v for k, v in options.items() if k in _FIELDS}
        return cls(shape=tuple(shape), family=family, family_options=own, **kept)

    def validate(self) -> None:
        """Each option against its declaration, then the combinations and the registries."""
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise VaekitError(f"model shape must be (C, H, W), got {self.shape}")
        shared = [o for o in TRAIN_OPTIONS.in_section("model") if o.config_key in _FIELDS]
        TRAIN_OPTIONS.check({o.name: getattr(self, o.config_key) for o in shared}, "model")
        own = family(self.family)
        self._check_family_options(own)
        _choice("likelihood", self.likelihood, likelihood_names())
        _choice("prior", self.prior, PRIORS)
        if self.num_classes < 0:
            raise VaekitError(f"num classes must be at least 0, got {self.num_classes}")
        unknown = set(self.custom) - set(COMPONENTS)
        if unknown:
            raise VaekitError(f"custom: unknown component {sorted(unknown)[0]!r}")
        # The kind's own refusals first (they say what its data takes: audio has no pixels
        # for --autoregressive), then the family's and the combinations', then the values
        # that only another kind takes.
        model_part(self).check(self)
        if own.hierarchical:
            self._check_hierarchy()
        checker = own.load_checker()
        why = checker(self) if checker is not None else None
        if why:
            raise VaekitError(why)
        if self.flow_steps and "encoder" in self.custom:
            raise VaekitError("--flow-steps needs vaekit's own encoder (it outputs the context)")
        if self.autoregressive:
            self._check_autoregressive()
        if self.prior == "vamp" and self.num_classes:
            raise VaekitError("--prior vamp and --conditional cannot be combined")
        self._refuse_owned()
        self.check_size()

    def _check_family_options(self, own: Family) -> None:
        """family_options holds only the family's own options, each a value its declaration
        takes (__post_init__ filled in the absent ones)."""
        for key, value in self.family_options.items():
            if key not in own.options:
                if _flag(key) is None:
                    raise VaekitError(f"family options: unknown option {key!r}")
                raise VaekitError(foreign_option(own, key))
            option = family_option(own, key)
            try:
                option.check(value)
            except ValueError as err:
                raise VaekitError(f"model: {option.flag}: {err}") from None

    def _check_hierarchy(self) -> None:
        """A hierarchical family: its own hierarchical prior and posterior."""
        f = self.family
        if self.prior != "standard-normal" or self.num_classes or self.custom:
            raise VaekitError(
                f"{f} has its own hierarchical prior: it takes no --prior, --conditional "
                "or custom modules"
            )
        if self.flow_steps:
            raise VaekitError(
                f"--flow-steps: {f}'s posterior is its own hierarchy; flows are for the "
                f"families of one encoder and one decoder ({_flat_families()})"
            )
        if self.autoregressive:
            raise VaekitError(
                f"--autoregressive works with the families of one encoder and one decoder "
                f"({_flat_families()}), not {f}"
            )

    def _check_autoregressive(self) -> None:
        if self.likelihood == "gaussian" and "likelihood" not in self.custom:
            raise VaekitError(
                "--autoregressive models binary or 8-bit pixels: use --likelihood bernoulli, "
                "logistic, logistic-mixture or logistic-mixture-coupled"
            )
        if self.ar_kernel % 2 == 0:
            raise VaekitError(f"--ar-kernel must be odd, got {self.ar_kernel}")

    def _refuse_owned(self) -> None:
        """An option value that only another kind of data takes (its model part's OWNED):
        refused, saying which data it is for and what this config's data may choose from."""
        for name, value, part in _owners(self.kind):
            if getattr(self, name) == value:
                flag = next(o.flag for o in TRAIN_OPTIONS.in_section("model")
                            if o.config_key == name)  # fmt: skip
                message = f"{flag} {value} is for {part.OWNED_FOR}"
                if name in _CHOICES:
                    taken = {v for n, v, _ in _owners(self.kind) if n == name}
                    free = [v for v in _CHOICES[name]() if v not in taken]
                    message += f": for {kind(self.kind).noun} choose from {', '.join(free)}"
                raise VaekitError(message)

    def check_size(self) -> None:
        """The size budget (MAX_IMAGE_VALUES, MAX_LAYERS, MAX_PARAMETERS), before anything is
        allocated: each size alone, then the parameters of the model built from them."""
        if math.prod(self.shape) > MAX_IMAGE_VALUES:
            raise VaekitError(
                f"model shape {self.shape}: {math.prod(self.shape):,} values per image, more "
                f"than the {MAX_IMAGE_VALUES:,} vaekit builds models for"
            )
        own = self.family_options
        # The family's lists of widths (hidden_dims, channels): one layer per width.
        widths = {k: v for k, v in own.items() if isinstance(v, tuple)}
        counts = [(k.replace("_", " "), len(v)) for k, v in widths.items()]
        counts += [(k, own[k]) for k in LAYER_COUNTS if k in own]
        counts += [("flow steps", self.flow_steps), ("autoregressive", self.autoregressive)]
        for what, count in counts:
            if count > MAX_LAYERS:
                raise VaekitError(f"{what}: {count} layers, more than {MAX_LAYERS}")
        sizes = {
            "latent dim": self.latent_dim,
            **{k.replace("_", " "): max(v) for k, v in widths.items()},
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
            declared = family(self.family)
            lower = ["--latent-dim", *(family_option(declared, k).flag for k in widths)]
            raise VaekitError(
                f"this model would have {count:,} parameters, more than the "
                f"{MAX_PARAMETERS:,} vaekit builds: lower {', '.join(lower)} or the image size"
            )


# The fields every family shares (family_options holds the rest of the model options).
_FIELDS = {f.name for f in fields(ModelConfig)} - {"family_options"}
# The family options that count layers (of residual blocks, of stochastic layers), held to
# MAX_LAYERS like the widths' lists; a family's other whole numbers are sizes its parameters,
# counted on the meta device, bound.
LAYER_COUNTS = ("depth", "layers")


def family_option(declared: Family, key: str) -> Option:
    """The declaration of the option `key` (a config key) that the family `declared` names as
    its own: among the options it declares itself, else among the train options' model
    section; a one-line VaekitError where neither declares it (a broken family)."""
    for option in (*declared.declares, *TRAIN_OPTIONS.in_section("model")):
        if option.config_key == key:
            return option
    raise VaekitError(f"model family {declared.name!r}: its option {key!r} is declared nowhere")


def _flag(key: str) -> str | None:
    """The flag of the model option whose config key is `key` (declared among the train
    options, which hold every registered family's own), None where none is."""
    for option in TRAIN_OPTIONS.in_section("model"):
        if option.config_key == key:
            return option.flag
    return None


def foreign_option(declared: Family, key: str) -> str:
    """Why the option `key` (a config key), which another family takes, is refused for the
    family `declared`: "--channels is not an option of --model mlp (its own: --hidden-dims)"."""
    own = ", ".join(family_option(declared, k).flag for k in declared.options) or "none"
    return f"{_flag(key) or key} is not an option of --model {declared.name} (its own: {own})"


def _flat_families() -> str:
    """The families a flow posterior or an autoregressive decoder can join, "mlp, conv or
    resnet": those that are not hierarchical and have no prior of their own (vqvae's, over
    its codes, which refuses both), less those a kind of data owns (text's)."""
    owned = {v for n, v, _ in _owners("") if n == "family"}
    names = [f.name for f in FAMILIES.all()
             if not f.hierarchical and not f.prior and f.name not in owned]  # fmt: skip
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def _choice(what: str, value: str, known: Any) -> None:
    if value not in known:
        raise VaekitError(f"unknown {what} {value!r}: choose from {', '.join(known)}")


def model_part(config: ModelConfig) -> ModuleType:
    """The model part of the config's kind of data (vaekit.kinds.protocol, "model part")."""
    return kind(config.kind).part("model")


def _owners(own: str) -> list[tuple[str, str, ModuleType]]:
    """(option, value, model part) for each value that only one kind other than `own` takes
    (its model part's OWNED), in the order the kinds were registered."""
    found = []
    for declared in KINDS.all():
        if declared.package is None or declared.name == own:
            continue  # a kind that only adds sources has no model part
        part = declared.part("model")
        for name, values in getattr(part, "OWNED", {}).items():
            found += [(name, value, part) for value in values]
    return found


def likelihood_names() -> tuple[str, ...]:
    """Every likelihood a config may name, as declared (vaekit.components): vaekit's own and
    installed packages' (LIKELIHOODS), then those each kind of data owns, declares in its
    options and builds in its model part (its OWNED and likelihood)."""
    return components.LIKELIHOODS.names()


# Registries: a config names a component, the registry builds it from the config. The families
# are declared in vaekit.kinds.base, each naming its builder (vaekit.models.families); the
# likelihoods and priors in vaekit.components (vaekit.models.builders), each builder imported
# when first asked for.
Builder = Callable[..., nn.Module]
LIKELIHOODS: Mapping[str, Builder] = components.LIKELIHOODS.builders()
# and those a kind of data owns, built by its model part: see likelihood_names
PRIORS: Mapping[str, Builder] = components.PRIORS.builders()
# The values each option a kind may own takes, for the refusal that names this config's own.
_CHOICES: dict[str, Callable[[], Any]] = {
    "family": family_names,
    "likelihood": likelihood_names,
    "prior": lambda: tuple(PRIORS),
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
    try:
        vae = _assemble(config, parts)
    except (AttributeError, TypeError) as err:
        if not parts:
            raise
        named = ", ".join(f"{k} {type(m).__name__}" for k, m in parts.items())
        raise VaekitError(
            f"the custom modules ({named}) do not fit vaekit's interface: {err} (see the "
            "README's 'Your own modules')"
        ) from None
    finish = getattr(model_part(config), "finish", None)
    if finish is not None:
        finish(vae, config)  # the kind's adjustments (audio: no clamp of the mean)
    return vae


def _assemble(config: ModelConfig, parts: dict[str, nn.Module]) -> VAE:
    """The VAE from the config's built-in components and the given `parts`: the likelihood
    here (or by the kind of data that owns it), then the whole model by the kind where it
    builds its own (a table's, text's), else by the builder its family declares
    (vaekit.kinds.base)."""
    own = model_part(config)
    likelihood = parts["likelihood"] if "likelihood" in parts else _likelihood(config, own)
    assemble = getattr(own, "assemble", None)
    built = assemble(config, likelihood, parts) if assemble is not None else None
    if built is not None:
        return built
    declared = family(config.family)
    if config.autoregressive and not declared.hierarchical:
        likelihood = AutoregressiveLikelihood(
            likelihood, config.shape[0], config.ar_width, config.autoregressive, config.ar_kernel
        )
    return declared.load_builder()(config, likelihood, parts)


def _likelihood(config: ModelConfig, own: ModuleType) -> nn.Module:
    """The likelihood the config names as its kind of data builds it, where the kind has its
    own (one it owns, or its own form of a built-in one: a series' Gaussian leaves missing
    values out), else the built-in one."""
    build = getattr(own, "likelihood", None)
    built = build(config) if build is not None else None
    if built is not None:
        return built
    if config.likelihood in LIKELIHOODS:
        return LIKELIHOODS[config.likelihood](config)
    # validate refuses what no kind owns: a kind's part that fails its word
    raise VaekitError(f"--likelihood {config.likelihood} is not one {config.kind} builds")


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


# Modules a user allows vaekit to import for a run's custom modules, from the command line
# (comma-separated): a file never makes vaekit import code on its own.
IMPORT_ENV = "VAEKIT_IMPORT"


def _rebuild(component: str, record: dict[str, Any]) -> nn.Module:
    """Construct a user's module from its record. Its class is taken from a module already
    imported in this process, or one the user names in $VAEKIT_IMPORT: importing a module runs
    its code, and config.json may come from anyone. Only an nn.Module subclass is ever
    called, so a config cannot name an arbitrary function to run."""
    path = str(record.get("class", ""))
    where = f"config.json: custom {component} {path!r}"
    module_name = path.partition(":")[0]
    allowed = {m.strip() for m in os.environ.get(IMPORT_ENV, "").split(",") if m.strip()}
    if module_name not in sys.modules and module_name not in allowed:
        raise VaekitError(
            f"{where}: its module {module_name!r} is not imported, and vaekit never imports "
            f"code a file names (importing runs it): if you trust it, import it first (import "
            f"{module_name}, then vaekit.load), or allow it with {IMPORT_ENV}={module_name}"
        )
    try:
        target = import_object(path)
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
