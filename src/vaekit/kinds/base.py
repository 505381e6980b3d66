"""The model family registry: each family is one declaration, and every list of family names
(`--model`'s choices and help, the checks of a config, the factory's choice of builder) is read
from here, so that none is kept by hand.

A family names its builder by import path ("package.module:function"), resolved only when a
model is built, so that this module, at the bottom of the layer map, imports neither torch nor
the models. The builder is called as `builder(config, likelihood, parts)`: the ModelConfig, the
likelihood p(x|z) already built from it, and the user's own modules by component name
("encoder", "decoder", "prior"); it returns the model, a vaekit.models.vae.VAE.

Third-party packages add families through the `vaekit.families` entry point group: each entry
point, named as its family, is a Family. They are looked up once, the first time the names are
asked for, never at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from vaekit.errors import VaekitError

ENTRY_POINT_GROUP = "vaekit.families"


@dataclass(frozen=True)
class Family:
    """One model family.

    name: what `--model` and config.json's model.family say. help: a clause for `--help`,
    "fully connected". builder: "package.module:function" (see the module docstring).
    hierarchical: the family has its own hierarchical prior and posterior, so it takes no
    --prior, --conditional, --flow-steps, --autoregressive or custom modules.
    """

    name: str
    help: str
    builder: str
    hierarchical: bool = False

    def load_builder(self) -> Callable[..., Any]:
        """The builder function, imported now; a one-line VaekitError where it cannot be."""
        module_name, _, qualname = self.builder.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError, ValueError) as err:
            raise VaekitError(
                f"model family {self.name!r}: its builder {self.builder!r} cannot be imported "
                f"({type(err).__name__}: {err})"
            ) from None
        if not callable(target):
            raise VaekitError(f"model family {self.name!r}: {self.builder!r} is not a function")
        return target


def _builtin(name: str, help: str, hierarchical: bool = False) -> Family:
    return Family(name, help, f"vaekit.models.families:build_{name}", hierarchical)


# vaekit's own families, in the order `--help` lists them.
BUILTIN_FAMILIES = (
    _builtin("mlp", "fully connected"),
    _builtin("conv", "stride-2 convolutions"),
    _builtin("resnet", "residual blocks per stage; He et al. 2016"),
    _builtin(
        "hvae",
        "a hierarchical VAE with --layers stochastic layers and top-down inference: Ladder "
        "VAE, Sonderby et al. 2016; NVAE, Vahdat & Kautz 2020",
        hierarchical=True,
    ),
    _builtin(
        "hconv",
        "a convolutional hierarchy with --layers latent maps of --latent-dim channels at each "
        "--channels scale and --depth residual cells, after NVAE and VDVAE, Child 2021",
        hierarchical=True,
    ),
    _builtin("rnn", "for text, and chosen for it: GRU encoder and decoder; Bowman et al. 2016"),
)

_FAMILIES: dict[str, Family] = {}
_entry_points_loaded = False


def register_family(declared: Family) -> None:
    """Add a family. A second, different family under a taken name is refused: which one
    `--model NAME` means would be a guess."""
    known = _FAMILIES.get(declared.name)
    if known is not None and known != declared:
        raise VaekitError(
            f"model family {declared.name!r} is declared twice ({known.builder} and "
            f"{declared.builder}); uninstall one of the packages that declare it"
        )
    _FAMILIES[declared.name] = declared


def load_entry_points() -> None:
    """Register the families that installed packages publish under `vaekit.families`."""
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name!r} ({entry.value}) in group {ENTRY_POINT_GROUP!r}"
        try:
            declared = entry.load()
        except Exception as err:  # a third party's import: whatever it raises, one line
            raise VaekitError(f"{where} cannot be loaded ({type(err).__name__}: {err})") from None
        if not isinstance(declared, Family):
            raise VaekitError(f"{where} is not a vaekit.kinds.base.Family")
        if declared.name != entry.name:
            raise VaekitError(f"{where} declares the family {declared.name!r}: name them alike")
        register_family(declared)


def _load_once() -> None:
    global _entry_points_loaded
    if not _entry_points_loaded:
        load_entry_points()
        _entry_points_loaded = True


def family_names() -> tuple[str, ...]:
    """The names of every family, vaekit's own first, in the order they were registered."""
    _load_once()
    return tuple(_FAMILIES)


def family(name: str) -> Family:
    """The family called `name`; a one-line VaekitError naming the known ones otherwise."""
    _load_once()
    if name not in _FAMILIES:
        raise VaekitError(f"unknown model {name!r}: choose from {', '.join(_FAMILIES)}")
    return _FAMILIES[name]


for _declared in BUILTIN_FAMILIES:
    register_family(_declared)
