"""Every option of `vaekit train` / `vaekit.train`, declared once.

The flags and help of `vaekit train`, the keys of a `--config` TOML file, the checks of
`vaekit.train(**options)`, the sections of config.json and the rule of what may change on
`--resume` are all derived from this list; ModelConfig and TrainConfig take their defaults
from it. The declarations live by group, each in its own module (train_options_data,
train_options_model, train_options_training, and each kind's own in
vaekit.kinds.<kind>.options), and are put together here in the order `--help` lists them. A
new option is one declaration in its group plus the code that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vaekit.components import LIKELIHOODS, OBJECTIVES, PRIORS
from vaekit.kinds.base import BUILTIN_FAMILIES, BUILTIN_KINDS, FAMILIES
from vaekit.options import Flag, OptionSet
from vaekit.train_options_data import DATA_OPTIONS
from vaekit.train_options_model import MODEL_OPTIONS
from vaekit.train_options_training import OBJECTIVE_OPTIONS, RUN_OPTIONS, TRAINING_OPTIONS

# The source first, then each kind's own options (vaekit.kinds.<kind>.options), then what
# every kind shares. vaekit's own kinds only: the options are read when this module is, and
# an installed package's kind is looked up later, the first time a kind is asked for.
KIND_OPTIONS = [option for declared in BUILTIN_KINDS for option in declared.load_options()]
# The options a family declares itself (vaekit.kinds.base.Family.declares), after the model
# options every family may name: vaekit's own families' here; an installed package's family
# is looked up later, the first time the options are used (`_installed_options`, which also
# reads installed training objectives' own, vaekit.components.Component.declares), and its
# options then join the flags, TOML keys and keywords (listed last in `--help`).
FAMILY_OPTIONS = [option for declared in BUILTIN_FAMILIES for option in declared.declares]
_DECLARED = (
    DATA_OPTIONS[:1]
    + KIND_OPTIONS
    + DATA_OPTIONS[1:]
    + MODEL_OPTIONS
    + FAMILY_OPTIONS
    + OBJECTIVE_OPTIONS
    + TRAINING_OPTIONS
    + RUN_OPTIONS
)


def _installed_options() -> list:
    """The options every registered family and training objective declares (vaekit's own are
    declared already)."""
    declaring = (*FAMILIES.all(), *OBJECTIVES.all())
    return [option for declared in declaring for option in declared.declares]


TRAIN_OPTIONS = OptionSet(_DECLARED, later=_installed_options)
# vaekit's own options' defaults: read at import, before any installed package is looked up
# (an installed family's options' defaults: TRAIN_OPTIONS.defaults(), or its declaration).
DEFAULTS = {option.name: option.default for option in _DECLARED}


def resumable_flags() -> str:
    """The flags that may differ when a run is resumed, "--data, --epochs, ...": the one list
    that `--help`, the refusal of any other flag and the README give."""
    flags = [
        f"{o.flag}/--no-{o.flag[2:]}" if isinstance(o.kind, Flag) else o.flag
        for o in TRAIN_OPTIONS
        if o.resumable
    ]
    return ", ".join(flags[:-1]) + " and " + flags[-1]


# The options every family shares that `vaekit tune` searches by default, each with its range
# as a family declares its own (vaekit.kinds.base.Family.search): a list of values to choose
# from, or (low, high), or (low, high, "log") for numbers drawn on a log scale, or "*": every
# value its registry holds (each prior the data takes, here). The family is
# searched among those the data takes; a hierarchical family draws no --prior. --beta is left
# out: a beta other than 1 trains for another objective than the -ELBO the trials are ranked on.
# A PixelCNN decoder of one layer and EMA are drawn too: the two pieces of the best
# hand-picked Fashion-MNIST models (BENCHMARKS.md) that a search could not reach without them;
# data that takes no PixelCNN (tables, text, audio, continuous pixels) leaves out the 1.
# The PixelCNN's kernel and width are drawn with it (NEEDS_ABOVE_ZERO): the defaults' 3 x 3
# kernel and 32 channels, the only shape searched before, make a one-layer decoder that sees
# four pixels before each and whose trials (MLP 512-256) took about 80 s an epoch, against
# 32 s for the hand-picked MLP 512-512 row with a 7 x 7 kernel and 8 channels (BENCHMARKS.md,
# issue 29).
SEARCH = {
    "latent_dim": (8, 64, "log"),
    "prior": "*",
    "kl_warmup": [0, 1000, 5000],
    "lr": (3e-4, 3e-3, "log"),
    "autoregressive": [0, 1],
    "ar_kernel": [3, 5, 7],
    "ar_width": [8, 16, 32],
    "ema": [0.0, 0.999],
}
# Options that do something only where another is above 0: one the user sets where that other
# is 0 is refused (unused_option); a tune trial draws one only where it draws that other above
# 0 (or where the search is given it above 0), and a search that has it at 0 draws it nowhere.
NEEDS_ABOVE_ZERO = {
    "ar_kernel": "autoregressive",
    "ar_width": "autoregressive",
    "flow_hidden": "flow_steps",
}
# Options that do nothing where another has a value: the std a Gaussian starts from or keeps,
# where the decoder predicts one per pixel; what acts on the KL, for a language model (no
# latent: its KL is 0); how to crop, with no size to crop to; a target taken as a label, with
# no target.
NOTHING_WHERE = {
    "gaussian_std": ("gaussian_variance", "pixel"),
    "beta": ("language_model", True),
    "kl_warmup": ("language_model", True),
    "free_bits": ("language_model", True),
    "crop": ("image_size", None),
    "target_is_label": ("target", None),
}
# The options that choose a component whose own options (vaekit.components.Component.options)
# do something only when it is the one chosen.
CHOOSING = {"likelihood": LIKELIHOODS, "prior": PRIORS, "objective": OBJECTIVES}


def unused_option(choices: Mapping[str, Any], names: Iterable[str]) -> str | None:
    """Of the options `names` (those the user set), the first that would change nothing beside
    `choices` (options by name), as a one-line refusal; None where each does something. One
    does nothing when it is only other components' own (--mixtures with --likelihood
    bernoulli, --tc-weight with --objective elbo), needs another above 0 that is 0
    (--ar-width without --autoregressive, --flow-hidden without --flow-steps), or does nothing
    where another has a value (NOTHING_WHERE: --gaussian-std with --gaussian-variance pixel).
    What `choices` does not name is not judged."""
    for name in names:
        other = NEEDS_ABOVE_ZERO.get(name)
        if other in choices and not choices[other]:
            flag, needs = TRAIN_OPTIONS[name].flag, TRAIN_OPTIONS[other].flag
            return f"{flag} does something only with {needs} above 0 (it is {choices[other]})"
        other, value = NOTHING_WHERE.get(name, (None, None))
        if other in choices and choices[other] == value:
            flag, where = TRAIN_OPTIONS[name].flag, TRAIN_OPTIONS[other].flag
            said = "" if value is True else f" {value}"
            return (f"{flag} does nothing without {where}" if value is None
                    else f"{flag} does nothing with {where}{said}")  # fmt: skip
        for choosing, registry in CHOOSING.items():
            owners = registry.owners(name)
            chosen = choices.get(choosing)
            if choosing not in choices or not owners or chosen in owners:
                continue
            flag = TRAIN_OPTIONS[choosing].flag
            own = [c.own_options for c in registry.every() if c.name == chosen]
            listed = ", ".join(TRAIN_OPTIONS[o].flag for o in own[0]) if own else ""
            return (
                f"{TRAIN_OPTIONS[name].flag} is an option of {flag} {' or '.join(owners)}, "
                f"not of {flag} {chosen} (its own: {listed or 'none'})"
            )
    return None
