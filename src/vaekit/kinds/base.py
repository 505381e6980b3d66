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
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
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
    options: the model options that are this family's own, by config key ("hidden_dims"),
    each declared among the train options (vaekit.train_options_model, or `declares`): a
    config of this family holds exactly these in its family_options, and a user's explicit
    value for another family's option is refused. The options every family shares (the
    latent dimensions, the likelihood, the prior, ...) are ModelConfig's own fields.
    declares: options this family adds to the train options (vaekit.options.Option, in the
    "model" section), for a family with settings no built-in option names; name each in
    `options` too. They join the flags, TOML keys and keywords when the options are first
    used (vaekit.train_options). vaekit's own families declare none.
    checker: "package.module:function" called as checker(config) with the ModelConfig, after
    the options each alone and the shared combinations are checked, returning why this
    family cannot be built from it (one line) or None; None: nothing more to check.
    search: the family's own options worth searching (`vaekit tune`), by option name, each
    with its range: a list of values to choose from, or (low, high), or (low, high, "log")
    for numbers drawn on a log scale; the options every family shares are searched as
    vaekit.train_options.SEARCH says. Empty: nothing of its own to search.
    ignores: shared options this family takes but has no use for, which `vaekit tune` does
    not draw for it (vqvae's KL is a constant: training refuses the options that act on it
    and every --objective but elbo).
    prior: how the family's own prior is named, "prior" included (reports, model cards),
    where it has one in place of --prior's (vqvae's, over its codes); "": --prior's.
    files: the run files beyond config.json and model.safetensors that its later stages
    write and loading reads (vqvae's code prior), named in the model card.
    """

    name: str
    help: str
    builder: str
    hierarchical: bool = False
    options: tuple[str, ...] = ()
    declares: tuple[Any, ...] = ()  # vaekit.options.Option: this module imports none
    checker: str | None = None
    search: dict[str, Any] = field(default_factory=dict, hash=False)
    ignores: tuple[str, ...] = ()
    prior: str = ""
    files: tuple[str, ...] = ()

    def load_checker(self) -> Callable[..., Any] | None:
        """The checking function, imported now (None where the family has none); a one-line
        VaekitError where it cannot be imported."""
        if self.checker is None:
            return None
        return _import_function(self.checker, f"model family {self.name!r}", "checker")

    def load_builder(self) -> Callable[..., Any]:
        """The builder function, imported now; a one-line VaekitError where it cannot be."""
        return _import_function(self.builder, f"model family {self.name!r}", "builder")


def _builtin(
    name: str, help: str, options: tuple[str, ...], hierarchical: bool = False, check: bool = False,
    search: dict[str, Any] | None = None, ignores: tuple[str, ...] = (), prior: str = "",
    files: tuple[str, ...] = (),
) -> Family:  # fmt: skip
    where = "vaekit.models.families"
    checker = f"{where}:check_{name}" if check else None
    return Family(name, help, f"{where}:build_{name}", hierarchical, options, checker=checker,
                  search=search or {}, ignores=ignores, prior=prior, files=files)  # fmt: skip


# vaekit's own families, in the order `--help` lists them, each with the options its builder
# reads (vaekit.models.families); rnn's sizes are text's own options, in its schema.
BUILTIN_FAMILIES = (
    _builtin(
        "mlp",
        "fully connected",
        ("hidden_dims",),
        search={"hidden_dims": [(256,), (512,), (512, 256), (1024, 512)]},
    ),
    _builtin(
        "conv",
        "stride-2 convolutions",
        ("channels",),
        search={"channels": [(32, 64), (64, 128), (32, 64, 128)]},
    ),
    _builtin(
        "resnet",
        "residual blocks per stage; He et al. 2016",
        ("channels", "depth"),
        search={"channels": [(32, 64), (64, 128)], "depth": (1, 3)},
    ),
    _builtin(
        "hvae",
        "a hierarchical VAE with --layers stochastic layers and top-down inference: Ladder "
        "VAE, Sonderby et al. 2016; NVAE, Vahdat & Kautz 2020",
        ("hidden_dims", "layers"),
        hierarchical=True,
        check=True,
        search={"hidden_dims": [(256,), (512,)], "layers": (2, 4)},
    ),
    _builtin(
        "hconv",
        "a convolutional hierarchy with --layers latent maps of --latent-dim channels at each "
        "--channels scale and --depth residual cells, after NVAE and VDVAE, Child 2021",
        ("channels", "depth", "layers"),
        hierarchical=True,
        check=True,
        search={"channels": [(32, 64), (64, 128)], "depth": (1, 2), "layers": (1, 2)},
    ),
    _builtin(
        "vqvae",
        "discrete latents: a map of --latent-dim dimensional codes from a codebook of "
        "--codebook-size, kept by moving averages, --depth residual blocks per stage; "
        "`vaekit fit-prior` then trains the PixelCNN over codes that sampling needs; van den "
        "Oord et al. 2017",
        ("channels", "depth", "codebook_size", "commitment", "codebook_decay"),
        check=True,
        search={"channels": [(32, 64), (64, 128)], "codebook_size": [64, 256, 512]},
        ignores=("kl_warmup", "beta", "free_bits", "iw_train", "objective"),
        prior="a prior over its codes (uniform until `vaekit fit-prior` fits one)",
        files=("code_prior.json", "code_prior.safetensors"),
    ),
    _builtin("rnn", "for text, and chosen for it: GRU encoder and decoder; Bowman et al. 2016", ()),
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
class Source:
    """One kind of source `open_dataset` takes: how it is recognized and how it is opened.

    name: what it is called ("table file"); a name is taken once among all kinds' sources.
    recognizes: "package.module:function" called with the source as given (a path, a name,
    an array, a spec), true where this source takes it; it must answer False, not fail, for
    other sources. opener: "package.module:function" called as opener(source, request), with
    the vaekit.data.datasets.OpenRequest, returning a vaekit.data.dataset.Dataset (whose
    `kind` names the kind of data it holds). order: sources are tried lowest first (in the
    order they were registered among equals) and the first that recognizes a source opens
    it; vaekit's own are at 100, 200, ... (BUILTIN_KINDS), so a source that says nothing (0)
    is tried before them, and a package can claim a source vaekit would take. suggested:
    whether a source that failed to open as another kind's names this kind as a `--kind` to
    try; False for one that takes any file of its form, meant for `--kind` alone.
    """

    name: str
    recognizes: str
    opener: str
    order: int = 0
    suggested: bool = True

    def load_recognizer(self) -> Callable[[Any], bool]:
        """The recognizing function, imported now; a one-line VaekitError where it cannot be."""
        return _import_function(self.recognizes, f"source {self.name!r}", "recognizer")

    def load_opener(self) -> Callable[..., Any]:
        """The opening function, imported now; a one-line VaekitError where it cannot be."""
        return _import_function(self.opener, f"source {self.name!r}", "opener")


# The files of a kind's package, by the layer each is in (DESIGN.md, "Layers"): a layer asks
# a kind for the part in its own layer or below, never above. "cli" (the cli layer) is
# optional: only kinds with commands or arguments of their own have one
# (vaekit.cli.output.kind_cli).
PARTS = ("data", "model", "evaluate", "render", "cli")


@dataclass(frozen=True)
class Kind:
    """One kind of data (image, table, audio, text, ...): everything particular to it, found
    by its name, which config.json records (model.kind).

    name: "table". noun: how messages name data of this kind ("a table"). unit: what one
    example is called on a progress bar ("row"). package: "package.module" whose submodules
    data, model, evaluate and render (PARTS, with an optional cli) each answer its layer's
    questions about this kind (the Kind protocol: vaekit.kinds.protocol); None for a kind
    that only adds sources of data of another kind (images, say). sources: how its files are
    recognized and read. options: "package.module:NAME", the list of its own options of
    `vaekit train` (vaekit.options.Option), which the train options put after the data
    source's.
    """

    name: str
    noun: str
    unit: str
    package: str | None = None
    sources: tuple[Source, ...] = ()
    options: str | None = None

    def load_options(self) -> list[Any]:
        """The options of `vaekit train` particular to this kind (vaekit.options.Option
        declarations), imported now from `options` ("package.module:NAME"); none where it
        names none."""
        if self.options is None:
            return []
        try:
            return list(import_object(self.options))
        except (ImportError, AttributeError, ValueError, TypeError) as err:
            raise VaekitError(
                f"kind of data {self.name!r}: its options {self.options!r} cannot be imported "
                f"({type(err).__name__}: {err})"
            ) from None

    def train_defaults(self) -> dict[str, Any]:
        """The values this kind gives `vaekit train`'s options in place of their defaults:
        the DEFAULTS kept beside its options (in `options`'s module, imported without its
        model), which `vaekit train --help` shows; {} where there are none there."""
        if self.options is None:
            return {}
        try:
            found = getattr(importlib.import_module(self.options.partition(":")[0]), "DEFAULTS", {})
        except ImportError:
            return {}  # (load_options says why, where the options are asked for)
        return dict(found) if isinstance(found, dict) else {}

    def part(self, layer: str) -> ModuleType:
        """This kind's module for `layer` (one of PARTS), imported now; a one-line
        VaekitError where it cannot be."""
        if layer not in PARTS:
            raise ValueError(f"no kind part {layer!r}: choose from {', '.join(PARTS)}")
        if self.package is None:
            raise VaekitError(f"kind of data {self.name!r} declares no {layer} part")
        try:
            return importlib.import_module(f"{self.package}.{layer}")
        except ImportError as err:
            raise VaekitError(
                f"kind of data {self.name!r}: its {layer} part {self.package}.{layer} cannot "
                f"be imported ({type(err).__name__}: {err})"
            ) from None


def _own(name: str, noun: str, unit: str, *sources: tuple[Any, ...]) -> Kind:
    """One of vaekit's own kinds, in vaekit.kinds.<name>; its sources' functions in its data
    part unless named otherwise. Each source: (name, order, recognizer, opener[, suggested])."""
    package = f"vaekit.kinds.{name}"

    def where(function: str) -> str:
        return function if ":" in function else f"{package}.data:{function}"

    declared = tuple(
        Source(s, where(r), where(o), order, suggested=not rest or rest[0])
        for s, order, r, o, *rest in sources
    )
    return Kind(name, noun, unit, package, declared, f"{package}.options:OPTIONS")


# Where the series kind's recognizers are: beside its data part, which opens what they find.
_SERIES_READ = "vaekit.kinds.series.data_read"

# vaekit's own kinds, in the order `--help` lists their options. Their sources are tried in
# the order of their numbers: the first whose test holds says what a source is, so the order
# decides what a path means (a registered name before a same-named folder, a missing path
# refused before its suffix is read, a folder of .wav files before a folder of images).
BUILTIN_KINDS = (
    _own(
        "image", "images", "img",
        ("array", 100, "_is_array", "_open_array"),
        # Python objects (vaekit.data.objects), before any test that takes a source for a path
        ("torch-dataset", 110, "_is_torch_dataset", "_open_torch_dataset"),
        ("hf-pixels", 120, "_is_hf_pixels", "_open_hf_pixels"),
        ("registered", 200, "_is_registered", "_open_registered"),
        ("missing", 300, "_is_missing", "_refuse_missing"),
        ("folder", 500, "_is_folder", "_open_folder", False),  # any folder: never suggested
        ("array-file", 600, "_is_array_file", "_open_array_file"),
    ),
    _own(
        "table", "a table", "row",
        ("dataframe", 115, "is_dataframe", "open_dataframe"),
        # after hf-pixels: a Hugging Face dataset with a column of pictures is images
        ("hf-table", 125, "is_hf_dataset", "open_hf_table"),
        ("table", 700, "is_table_path", "open_table_file"),
    ),
    _own("audio", "audio", "clip", ("audio", 400, "_is_wav_folder", "_open_wav_folder")),
    _own("text", "text", "line", ("text", 800, "is_text_path", "open_text_file")),
    _own(
        "series", "a time series", "step",
        # a DataFrame whose first column is a time, before the table kind's (115)
        ("series-dataframe", 112, f"{_SERIES_READ}:is_series_dataframe", "open_series_dataframe"),
        ("series-folder", 450, f"{_SERIES_READ}:is_series_folder", "open_series_folder"),
        ("series", 650, f"{_SERIES_READ}:is_series_path", "open_series"),
        # Never reached for a .npy unless --kind series says so: array-file (600) takes them.
        ("series-array", 660, f"{_SERIES_READ}:is_series_array", "open_series_array"),
        # An array in memory: only under kind="series" (images' array source, 100, first).
        ("series-ndarray", 665, f"{_SERIES_READ}:is_series_ndarray", "open_series_ndarray"),
        # Reached for a .csv/.parquet only under --kind series (table, at 700, takes them
        # first otherwise): a series whose time is not its first column (--time-column).
        ("series-named", 710, f"{_SERIES_READ}:is_table_file", "open_series", False),
        ("series-named-dataframe", 716, f"{_SERIES_READ}:is_any_dataframe",
         "open_series_dataframe", False),
        # A folder with a table file, only under --kind series (images take every folder
        # first otherwise): one holding other files is refused naming the first (a README).
        ("series-any-folder", 720, f"{_SERIES_READ}:is_table_folder", "open_series_folder",
         False),
    ),
)  # fmt: skip

# The kind of data a dataset or a model config that names none is of: images, vaekit's first
# kind, and what every run from before kinds were recorded (config.json schemas 1 to 5, none
# of whose three records set) was trained on.
DEFAULT_KIND = "image"

KINDS = Registry(Kind, KIND_ENTRY_POINT_GROUP, "kind of data", "kind", "kind of data", "package")
for _declared_kind in BUILTIN_KINDS:
    KINDS.register(_declared_kind)


def register_kind(declared: Kind) -> None:
    """Add a kind (a second, different one under a taken name is refused)."""
    KINDS.register(declared)


def kind_names() -> tuple[str, ...]:
    """The names of every kind of data, vaekit's own first."""
    return tuple(k.name for k in KINDS.all())


def kind(name: str) -> Kind:
    """The kind called `name`; a one-line VaekitError naming the known ones otherwise."""
    return KINDS.get(name)


def sources() -> list[Source]:
    """Every kind's sources, in the order they are tried (a name taken twice is refused)."""
    found: dict[str, Source] = {}
    for declared in KINDS.all():
        for source in declared.sources:
            if source.name in found and found[source.name] != source:
                raise VaekitError(
                    f"source {source.name!r} is declared twice ({found[source.name].opener} "
                    f"and {source.opener}); uninstall one of the packages that declare it"
                )
            found[source.name] = source
    return sorted(found.values(), key=lambda s: s.order)  # stable: registration order


def source(name: str) -> Source:
    """The source called `name` (any kind's); a one-line VaekitError naming the known ones."""
    found = {s.name: s for s in sources()}
    if name not in found:
        raise VaekitError(f"unknown source {name!r}: choose from {', '.join(found)}")
    return found[name]


def recognize_source(source: Any, of_kind: str | None = None) -> Source | None:
    """The first source, in order, that recognizes `source` (each asked at most once); None
    where none does, and the caller says what it expected. With `of_kind`, the name of a kind
    of data (`--kind`), only that kind's sources are asked: the user says what the source
    holds where its form does not (a .npy array of series rather than of images)."""
    allowed = None if of_kind is None else kind(of_kind).sources
    for candidate in sources():
        if allowed is not None and candidate not in allowed:
            continue
        if candidate.load_recognizer()(source):
            return candidate
    return None
