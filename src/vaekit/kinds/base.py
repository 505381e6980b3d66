"""The registries of model families and of kinds of data: each family and each kind is one
declaration, and every list of family names (`--model`'s choices and help, the checks of a
config, the factory's choice of builder) and every test of what a dataset source is
(`open_dataset`'s) is read from here, so that none is kept by hand.

A family names its builder by import path ("package.module:function"), resolved only when a
model is built, so that this module, at the bottom of the layer map, imports neither torch nor
the models. The builder is called as `builder(config, likelihood, parts)`: the ModelConfig, the
likelihood p(x|z) already built from it, and the user's own modules by component name
("encoder", "decoder", "prior"); it returns the model, a vaekit.models.vae.VAE.

A kind of data names, the same way, the function that recognizes its sources and the one that
opens them (see `Kind`); they too are imported only when a source is opened.

Third-party packages add families through the `vaekit.families` entry point group, and kinds
through `vaekit.kinds`: each entry point, named as what it declares, is a Family or a Kind.
They are looked up once, the first time the names are asked for, never at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from vaekit.errors import VaekitError

ENTRY_POINT_GROUP = "vaekit.families"
KIND_ENTRY_POINT_GROUP = "vaekit.kinds"


def import_object(path: str) -> Any:
    """The object at `path` ("package.module:name", the name dotted for a nested one),
    imported now. Raises ImportError, AttributeError or ValueError where it cannot be: each
    caller says in its own words what the path was for."""
    module_name, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _import_function(path: str, owner: str, role: str) -> Callable[..., Any]:
    """The function at `path` ("package.module:function"), imported now; a one-line
    VaekitError naming its `owner` ("model family 'mlp'") where it cannot be."""
    try:
        target = import_object(path)
    except (ImportError, AttributeError, ValueError) as err:
        raise VaekitError(
            f"{owner}: its {role} {path!r} cannot be imported ({type(err).__name__}: {err})"
        ) from None
    if not callable(target):
        raise VaekitError(f"{owner}: {path!r} is not a function")
    return target


def _published(group: str, declared_type: type, what: str) -> list[Any]:
    """What installed packages publish under the entry point `group`: each a `declared_type`
    named as its entry point; anything else is a one-line VaekitError naming the entry point."""
    found = []
    for entry in metadata.entry_points(group=group):
        where = f"entry point {entry.name!r} ({entry.value}) in group {group!r}"
        try:
            declared = entry.load()
        except Exception as err:  # a third party's import: whatever it raises, one line
            raise VaekitError(f"{where} cannot be loaded ({type(err).__name__}: {err})") from None
        if not isinstance(declared, declared_type):
            raise VaekitError(f"{where} is not a vaekit.kinds.base.{declared_type.__name__}")
        if declared.name != entry.name:
            raise VaekitError(f"{where} declares the {what} {declared.name!r}: name them alike")
        found.append(declared)
    return found


class Registry:
    """Declarations by name (Family or Kind): vaekit's own, registered at import, then those
    installed packages publish under the entry point `group`, read once, the first time a
    name is asked for.

    noun: what a declaration is called in messages ("model family"), and `short` for short
    ("family"); unknown: how an unknown name is named ("model"); path: the attribute that
    tells two declarations apart in the message about a name declared twice ("builder")."""

    def __init__(self, declared_type: type, group: str, noun: str, short: str, unknown: str,
                 path: str) -> None:  # fmt: skip
        self.declared_type, self.group = declared_type, group
        self.noun, self.short, self.unknown, self.path = noun, short, unknown, path
        self.known: dict[str, Any] = {}
        self.loaded = False  # the entry points read

    def register(self, declared: Any) -> None:
        """Add a declaration. A second, different one under a taken name is refused: which of
        the two the name means would be a guess."""
        known = self.known.get(declared.name)
        if known is not None and known != declared:
            raise VaekitError(
                f"{self.noun} {declared.name!r} is declared twice ({getattr(known, self.path)} "
                f"and {getattr(declared, self.path)}); uninstall one of the packages that "
                "declare it"
            )
        self.known[declared.name] = declared

    def all(self) -> list[Any]:
        """Every declaration, in the order registered, the entry points' read first."""
        if not self.loaded:
            for declared in _published(self.group, self.declared_type, self.short):
                self.register(declared)
            self.loaded = True
        return list(self.known.values())

    def get(self, name: str) -> Any:
        """The declaration called `name`; a one-line VaekitError naming the known ones."""
        self.all()
        if name not in self.known:
            raise VaekitError(
                f"unknown {self.unknown} {name!r}: choose from {', '.join(self.known)}"
            )
        return self.known[name]


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
        return _import_function(self.builder, f"model family {self.name!r}", "builder")


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

FAMILIES = Registry(Family, ENTRY_POINT_GROUP, "model family", "family", "model", "builder")
for _declared in BUILTIN_FAMILIES:
    FAMILIES.register(_declared)


def register_family(declared: Family) -> None:
    """Add a family (a second, different one under a taken name is refused)."""
    FAMILIES.register(declared)


def family_names() -> tuple[str, ...]:
    """The names of every family, vaekit's own first, in the order they were registered."""
    return tuple(f.name for f in FAMILIES.all())


def family(name: str) -> Family:
    """The family called `name`; a one-line VaekitError naming the known ones otherwise."""
    return FAMILIES.get(name)


@dataclass(frozen=True)
class Kind:
    """One kind of source `open_dataset` takes: how it is recognized and how it is opened.

    name: what it is called ("table"); a name is taken once. recognizes: "package.module:
    function" called with the source as given (a path, a name, an array, a spec), true where
    this kind takes it; it must answer False, not fail, for sources of other kinds. opener:
    "package.module:function" called as opener(source, request), with the
    vaekit.data.datasets.OpenRequest, returning a vaekit.data.dataset.Dataset. order: kinds
    are tried lowest first (in the order they were registered among equals) and the first
    that recognizes a source opens it; vaekit's own are at 100, 200, ... (BUILTIN_KINDS), so
    a kind that says nothing (0) is tried before them, and a package can claim a source
    vaekit would take.
    """

    name: str
    recognizes: str
    opener: str
    order: int = 0

    def load_recognizer(self) -> Callable[[Any], bool]:
        """The recognizing function, imported now; a one-line VaekitError where it cannot be."""
        return _import_function(self.recognizes, f"kind of data {self.name!r}", "recognizer")

    def load_opener(self) -> Callable[..., Any]:
        """The opening function, imported now; a one-line VaekitError where it cannot be."""
        return _import_function(self.opener, f"kind of data {self.name!r}", "opener")


def _source(name: str, order: int, recognizes: str, opener: str) -> Kind:
    def where(function: str) -> str:
        return function if ":" in function else f"vaekit.data.datasets:{function}"

    return Kind(name, where(recognizes), where(opener), order)


# vaekit's own kinds, in the order they are tried: the first whose test holds says what a
# source is, so the order decides what a path means (a registered name before a same-named
# folder, a missing path refused before its suffix is read, a folder of .wav files before a
# folder of images). Their functions are in vaekit.data.datasets unless named otherwise.
BUILTIN_KINDS = (
    _source("array", 100, "_is_array", "_open_array"),
    _source("registered", 200, "_is_registered", "_open_registered"),
    _source("missing", 300, "_is_missing", "_refuse_missing"),
    _source("audio", 400, "_is_wav_folder", "_open_wav_folder"),
    _source("folder", 500, "_is_folder", "_open_folder"),
    _source("array-file", 600, "_is_array_file", "_open_array_file"),
    _source("table", 700, "vaekit.data.tables:is_table_path", "_open_table_file"),
    _source("text", 800, "vaekit.data.text:is_text_path", "_open_text_file"),
)

KINDS = Registry(Kind, KIND_ENTRY_POINT_GROUP, "kind of data", "kind", "kind of data", "opener")
for _declared_kind in BUILTIN_KINDS:
    KINDS.register(_declared_kind)


def register_kind(declared: Kind) -> None:
    """Add a kind (a second, different one under a taken name is refused)."""
    KINDS.register(declared)


def _in_order() -> list[Kind]:
    return sorted(KINDS.all(), key=lambda k: k.order)  # stable: registration order


def kind_names() -> tuple[str, ...]:
    """The names of every kind, in the order they are tried."""
    return tuple(k.name for k in _in_order())


def kind(name: str) -> Kind:
    """The kind called `name`; a one-line VaekitError naming the known ones otherwise."""
    return KINDS.get(name)


def recognize_kind(source: Any) -> Kind | None:
    """The first kind, in order, that recognizes `source` (each asked at most once); None
    where none does, and the caller says what it expected."""
    for candidate in _in_order():
        if candidate.load_recognizer()(source):
            return candidate
    return None
