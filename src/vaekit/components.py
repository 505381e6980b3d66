"""The registries of likelihoods, priors, optimizers, learning-rate schedules and training
objectives: each one is one declaration (its name, a clause for `--help`, its builder by
import path), and the choices and help of --likelihood, --prior, --optimizer, --lr-schedule
and --objective, the checks of a
TOML file and of a config, and the builders the models and the training loop call are all
read from here, so that no list of their names is kept by hand.

As for the model families (vaekit.kinds.base), a builder is named "package.module:function"
and imported only when something is built, so that this module, at the bottom of the layer
map, imports neither torch nor the models. What each builder is called with:
- a likelihood's or a prior's: builder(config), the ModelConfig, -> the nn.Module;
- an optimizer's: builder(parameters, lr) -> the torch.optim.Optimizer;
- a learning-rate schedule's is the schedule itself: builder(config, history, step,
  total_steps) -> the learning rate of that optimizer step (vaekit.training.schedules);
- a training objective's (the registry OBJECTIVES, --objective): builder(model, config) ->
  the TrainingObjective that adds its penalty to the loss, or None for the plain loss
  (vaekit.training.objectives).

A kind of data may own a likelihood that only its data takes and only its model part builds
(a table's, text's): it declares it in its options module (the module its Kind.options
names) under LIKELIHOODS, a list of Components without a builder, and its model part's OWNED
names it, so that the data of other kinds refuse it. --likelihood's choices and help read
them from there, without torch.

Third-party packages add components through the entry point groups vaekit.likelihoods,
vaekit.priors, vaekit.optimizers, vaekit.lr_schedules and vaekit.objectives, each entry point
a Component named as it is; they are read once, the first time the names are asked for,
never at import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from vaekit.errors import VaekitError
from vaekit.kinds.base import BUILTIN_KINDS, KINDS, Kind, Registry, _import_function
from vaekit.options import Kind as OptionKind
from vaekit.options import Text


@dataclass(frozen=True)
class Component:
    """One likelihood, prior, optimizer or learning-rate schedule.

    name: what the option and config.json say ("gaussian"). help: a clause that says what it
    is, for `--help` ("a learned mixture of Gaussians"). builder: "package.module:function"
    (see the module docstring); None only for a likelihood a kind of data owns, which its
    model part builds.
    """

    name: str
    help: str
    builder: str | None = None
    # The options that are this one's own (Python names, each declared among the train
    # options): --mixtures of the logistic mixtures, --tc-weight of tcvae; one set by the
    # user beside another choice would change nothing, and is refused
    # (vaekit.train_options.unused_option).
    options: tuple[str, ...] = ()
    # Those of its own options worth searching (`vaekit tune`, where the objective is searched
    # or fixed), each with its range as Family.search writes one (vaekit.kinds.base).
    search: dict[str, Any] = field(default_factory=dict, hash=False)
    # Options an installed package's objective adds to the train options (vaekit.options.Option,
    # section "training"): flags, TOML keys and keywords like vaekit's own, its own as well,
    # and given to its builder in TrainConfig.objective_options.
    declares: tuple[Any, ...] = ()

    @property
    def own_options(self) -> tuple[str, ...]:
        """Every option of its own: those it names and those it declares."""
        declared = tuple(o.name for o in self.declares if o.name not in self.options)
        return self.options + declared


class Components(Registry):
    """The Components of one role, by name: vaekit's own, registered here, then those that
    installed packages publish under the entry point `group`; and, where `attribute` is
    given, those each kind of data declares under that name in its options module.

    noun: what one is called in messages ("likelihood"); intro: what `--help` says before
    the clauses ("p(x|z): ")."""

    def __init__(self, group: str, noun: str, intro: str, attribute: str | None = None) -> None:
        super().__init__(Component, group, noun, noun, noun, "builder")
        self.intro, self.attribute = intro, attribute

    def declare(
        self,
        name: str,
        help: str,
        builder: str,
        options: tuple[str, ...] = (),
        search: dict[str, Any] | None = None,
    ) -> None:
        """Register one of vaekit's own (`options`, `search`: see Component)."""
        self.register(Component(name, help, builder, options, search or {}))

    def every(self) -> list[Component]:
        """Those registered, then those the kinds of data own (vaekit's and installed ones)."""
        return self.all() + self.owned(KINDS.all())

    def owners(self, option: str) -> list[str]:
        """The names of those whose own option `option` is (none: an option of no one)."""
        return [c.name for c in self.every() if option in c.own_options]

    def owned(self, kinds: list[Kind] | tuple[Kind, ...]) -> list[Component]:
        """Those the `kinds` declare in their options modules (under `attribute`), in order."""
        if self.attribute is None:
            return []
        found = []
        for declared in kinds:
            if declared.options is None:
                continue
            where = declared.options.partition(":")[0]
            try:
                module = importlib.import_module(where)
            except ImportError as err:
                raise VaekitError(
                    f"kind of data {declared.name!r}: its options module {where!r} cannot be "
                    f"imported ({type(err).__name__}: {err})"
                ) from None
            for component in getattr(module, self.attribute, ()):
                if not isinstance(component, Component):
                    raise VaekitError(
                        f"kind of data {declared.name!r}: {where}.{self.attribute} holds "
                        f"{component!r}, not a vaekit.components.Component"
                    )
                found.append(component)
        return found

    def names(self) -> tuple[str, ...]:
        """Every name a value may be: those registered (vaekit's own first, then the entry
        points'), then those the kinds of data own."""
        declared = [c.name for c in self.all()] + [c.name for c in self.owned(KINDS.all())]
        return tuple(dict.fromkeys(declared))

    def builder(self, name: str) -> Callable[..., Any]:
        """The builder of the one called `name`, imported now; a one-line VaekitError where
        there is no such one or it cannot be imported."""
        declared = self.get(name)
        if declared.builder is None:
            raise VaekitError(f"{self.noun} {name!r} declares no builder")
        return _import_function(declared.builder, f"{self.noun} {name!r}", "builder")

    def builders(self) -> Builders:
        """name -> builder, for those registered (not the kinds'), each imported when first
        asked for."""
        return Builders(self)

    def help(self) -> str:
        """The option's help: `intro`, then each of vaekit's own, with those vaekit's own
        kinds of data own, as "name, clause", joined by "; " and "or". (A help string is
        fixed when the option is declared, at import, before any entry point is looked up:
        a third party's is among the choices but not described here.)"""
        own = list(self.known.values()) + self.owned(BUILTIN_KINDS)
        clauses = [f"{c.name}, {c.help}" for c in own]
        if len(clauses) > 1:
            clauses[-1] = "or " + clauses[-1]
        return self.intro + "; ".join(clauses)


class Builders(Mapping[str, Callable[..., Any]]):
    """A registry's builders by name, as a read-only dict: the names are read from the
    registry each time (so that an installed package's are among them), and each builder is
    imported the first time it is asked for, then kept."""

    def __init__(self, registry: Components) -> None:
        self.registry = registry
        self.loaded: dict[str, Callable[..., Any]] = {}

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name not in self.loaded:
            if name not in self:
                raise KeyError(name)
            self.loaded[name] = self.registry.builder(name)
        return self.loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self.loaded or name in {c.name for c in self.registry.all()}

    def __iter__(self) -> Iterator[str]:
        return iter([c.name for c in self.registry.all()])

    def __len__(self) -> int:
        return len(self.registry.all())


class ComponentName(OptionKind):
    """An option's value that names a component. The choices are read from the registry each
    time they are asked for, as FamilyName's are (vaekit.train_options_model), so that one an
    installed package or a kind of data declares is one of them, and no list is kept."""

    def __init__(self, registry: Components) -> None:
        self.registry = registry

    @property
    def choices(self) -> tuple[str, ...]:
        return self.registry.names()

    def check(self, value: Any) -> str:
        return Text(self.choices).check(value)


LIKELIHOODS = Components("vaekit.likelihoods", "likelihood", "p(x|z): ", "LIKELIHOODS")
PRIORS = Components("vaekit.priors", "prior", "p(z): ")
OPTIMIZERS = Components("vaekit.optimizers", "optimizer", "")
LR_SCHEDULES = Components("vaekit.lr_schedules", "learning-rate schedule", "")
OBJECTIVES = Components("vaekit.objectives", "objective", "what training minimizes: ")

# vaekit's own, in the order `--help` lists them. The likelihoods and priors are built by
# vaekit.models.builders, the optimizers by vaekit.training.optimizers; a schedule is its own
# function in vaekit.training.schedules.
_MODELS, _TRAINING = "vaekit.models.builders", "vaekit.training"
LIKELIHOODS.declare("bernoulli", "for intensities in [0, 1]", f"{_MODELS}:bernoulli")
_GAUSSIAN = ("gaussian_variance", "gaussian_std")
LIKELIHOODS.declare("gaussian", "see --gaussian-variance", f"{_MODELS}:gaussian", _GAUSSIAN)
LIKELIHOODS.declare(
    "logistic",
    "discretized to the 256 values of 8-bit pixels (Kingma et al. 2016), so that -ELBO and "
    "NLL are real likelihoods and bits/dim are reported",
    f"{_MODELS}:logistic",
)
LIKELIHOODS.declare(
    "logistic-mixture",
    "a mixture of --mixtures such logistics, discretized the same way (Salimans et al. 2017, "
    "PixelCNN++)",
    f"{_MODELS}:logistic_mixture",
    ("mixtures",),
)
LIKELIHOODS.declare(
    "logistic-mixture-coupled",
    "the same, each color channel's mixture also depending on the previous channel's value "
    "(R -> G -> B), after PixelCNN++",
    f"{_MODELS}:logistic_mixture_coupled",
    ("mixtures",),
)
PRIORS.declare("standard-normal", "N(0, I)", f"{_MODELS}:standard_normal")
_COMPONENTS = ("prior_components",)
PRIORS.declare(
    "mog", "a learned mixture of Gaussians", f"{_MODELS}:mixture_of_gaussians", _COMPONENTS
)
PRIORS.declare(
    "vamp",
    "the VampPrior, a mixture of the encoder's posteriors at learned pseudo-inputs (Tomczak "
    "& Welling 2018)",
    f"{_MODELS}:vamp",
    _COMPONENTS,
)
OPTIMIZERS.declare("adam", "Adam (Kingma & Ba 2015)", f"{_TRAINING}.optimizers:adam")
OPTIMIZERS.declare(
    "adamw",
    "Adam with a decoupled weight decay of 0.01 (Loshchilov & Hutter 2019)",
    f"{_TRAINING}.optimizers:adamw",
)
OPTIMIZERS.declare("sgd", "with momentum 0.9", f"{_TRAINING}.optimizers:sgd")
LR_SCHEDULES.declare("constant", "--lr throughout", f"{_TRAINING}.schedules:constant")
LR_SCHEDULES.declare(
    "cosine",
    "annealed to 0 over the run (Loshchilov & Hutter 2017)",
    f"{_TRAINING}.schedules:cosine",
)
LR_SCHEDULES.declare(
    "plateau",
    "halved after 2 epochs without a better validation loss",
    f"{_TRAINING}.schedules:plateau",
)
# The training objectives (vaekit.training.objectives): each builder is called as
# builder(model, config) -> the TrainingObjective beside the loss (None: the plain loss).
_OBJECTIVES = f"{_TRAINING}.objectives"
OBJECTIVES.declare(
    "elbo", "the -ELBO (with --beta, --free-bits, --iw-train)", f"{_OBJECTIVES}:elbo"
)
OBJECTIVES.declare(
    "tcvae",
    "beta-TCVAE (Chen et al. 2018): the -ELBO plus (--tc-weight - 1) times the total "
    "correlation of q(z), estimated on each batch",
    f"{_OBJECTIVES}:tcvae",
    ("tc_weight", "tc_estimator"),
    {"tc_weight": (1.0, 10.0)},
)
OBJECTIVES.declare(
    "factorvae",
    "FactorVAE (Kim & Mnih 2018): the -ELBO plus --factor-weight times the total correlation "
    "as a discriminator on z judges it; the discriminator (an MLP of 3 hidden layers of 256, "
    "sized for CPUs; the paper's has 6 of 1000) trains beside the model with its own Adam",
    f"{_OBJECTIVES}:factorvae",
    ("factor_weight", "critic_lr"),
    {"factor_weight": (5.0, 100.0, "log")},
)
OBJECTIVES.declare(
    "infovae",
    "InfoVAE / MMD-VAE (Zhao et al. 2017): rec + --beta x KL + --mmd-weight x the MMD "
    "between the batch's z and draws of the prior (--beta 0: the pure MMD-VAE, as WAE-MMD, "
    "Tolstikhin et al. 2018)",
    f"{_OBJECTIVES}:infovae",
    ("mmd_weight", "mmd_kernel", "mmd_scale"),
    {"mmd_weight": (100.0, 10000.0, "log")},
)
