"""Every import arrow points down the layer map of DESIGN.md: a module imports only from its
own layer or from layers below it. Function-level (lazy) imports count too."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vaekit"
# Lowest first. evaluation and apps are siblings: neither imports the other. Root-level
# modules (files, errors, config, progress, version, ...) are the lowest layer.
RANKS = {
    "data": 1,
    "models": 2,
    "training": 3,
    "evaluation": 4,
    "apps": 4,
    "report": 5,
    "api": 6,
    "serve": 7,
    "cli": 8,
}
# kinds/: kinds/base, the family (and kind) registries, is the lowest layer, beside the root
# modules (errors, options, train_options); a kind's own folder, kinds/<kind>/, puts each file
# in the layer its name says (DESIGN.md, "Layers"), and so does a module beside it whose name
# starts with that one's and "_" (model_decoding.py: the models layer; cli_*.py: the cli layer).
KIND_FILES = {"data": "data", "model": "models", "evaluate": "evaluation", "apps": "apps",
              "render": "report", "cli": "cli", "options": ""}  # fmt: skip
FACADE = 99  # the package itself (vaekit/__init__.py re-exports the api): nothing imports it
EXEMPT = {"vaekit", "vaekit.__main__"}


def layer(module: str) -> str:
    """The layer of a dotted module name under vaekit: its package, or "" at the root."""
    parts = module.split(".")
    if parts == ["vaekit"]:
        return "vaekit"
    if parts[1] == "kinds":
        return KIND_FILES.get(parts[3].partition("_")[0], "") if len(parts) > 3 else ""
    return parts[1] if parts[1] in RANKS else ""


def rank(name: str) -> int:
    return FACADE if name == "vaekit" else RANKS.get(name, 0)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted module) for every vaekit module the code imports. `from vaekit.p import x`
    is the submodule vaekit.p.x where there is one, else the package (or module) itself."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _path(sub) is not None else base))
    return [(line, name) for line, name in found if name.split(".")[0] == "vaekit"]


def _path(module: str) -> Path | None:
    """The file of a dotted vaekit module (a package's __init__.py), None where none is."""
    parts = module.split(".")
    if parts[0] != "vaekit":
        return None
    base = SRC.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports in `source` (the code of `module`) that point up or sideways."""
    own = layer(module)
    bad = []
    for line, target in imported_modules(ast.parse(source), module, is_package):
        theirs = layer(target)
        if theirs != own and rank(theirs) >= rank(own):
            bad.append(f"{module}:{line} imports {target}")
    return bad


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append((name, path))
    return out


def test_every_import_points_down():
    modules = _modules()
    assert len(modules) > 50 and {layer(m) for m, _ in modules} >= set(RANKS) - {"serve"}
    bad = []
    for name, path in modules:
        if name not in EXEMPT:
            bad += upward_imports(path.read_text(), name, path.name == "__init__.py")
    assert bad == []


def test_the_models_package_imports_nothing_from_data():
    """models/ stands on the root modules alone (issue 26): a kind's schema is its own
    (kinds/<kind>/data_*.py), loops over data are evaluation's and the apps', and keyed
    random streams are vaekit.randomness."""
    found = [
        f"{name}:{line} imports {target}"
        for name, path in _modules()
        if layer(name) == "models" and not name.startswith("vaekit.kinds.")
        for line, target in imported_modules(ast.parse(path.read_text()), name, False)
        if layer(target) == "data"
    ]
    assert found == []


def test_the_registries_import_nothing_but_the_errors():
    """kinds/base is read by every layer, so it stands on nothing of vaekit's (builders are
    named by import path and imported only when a model is built)."""
    path = SRC / "kinds" / "base.py"
    found = {
        name
        for _, name in imported_modules(ast.parse(path.read_text()), "vaekit.kinds.base", False)
    }
    assert found == {"vaekit.errors"}


MAX_LINES = 500  # STYLE.md: a file longer than that holds two ideas; split it along them


def test_no_source_file_is_over_500_lines():
    sizes = {path: len(path.read_text().splitlines()) for _, path in _modules()}
    assert len(sizes) > 50
    long = [f"{p.relative_to(SRC.parent)}: {n} lines" for p, n in sizes.items() if n > MAX_LINES]
    assert long == []


@pytest.mark.parametrize(
    ("module", "source", "wrong"),
    [
        ("vaekit.api.train", "import vaekit\n", True),
        ("vaekit.api.train", "from vaekit import __version__\n", True),
        ("vaekit.api.train", "from vaekit import version\n", False),
        ("vaekit.apps.anomaly", "from vaekit.evaluation.evaluate import evaluate_vae\n", True),
        ("vaekit.evaluation.evaluate", "from vaekit.apps import latent\n", True),
        ("vaekit.models.vae", "def f():\n    from vaekit.training.loop import fit\n", True),
        ("vaekit.files", "from vaekit.data.batches import ImageSet\n", True),
        ("vaekit.data.fetch", "from vaekit.errors import VaekitError\n", False),
        ("vaekit.data.fetch", "from .registry import get_spec\n", False),
        ("vaekit.data.fetch", "from ..models import vae\n", True),
        ("vaekit.cli.main", "from vaekit.api.model import load\n", False),
        ("vaekit.kinds.base", "from vaekit.errors import VaekitError\n", False),
        ("vaekit.kinds.base", "def f():\n    from vaekit.models import vae\n", True),
        ("vaekit.train_options_model", "from vaekit.kinds.base import family\n", False),
        ("vaekit.models.factory", "from vaekit.kinds.base import family\n", False),
        ("vaekit.kinds.image.data", "from vaekit.models import vae\n", True),
        ("vaekit.kinds.image.model", "from vaekit.data.batches import ImageSet\n", False),
        ("vaekit.kinds.image.model", "from vaekit.kinds.image.render import grid\n", True),
        (
            "vaekit.kinds.text.model_decoding",
            "from vaekit.kinds.text.data_vocab import PAD\n",
            False,
        ),
        ("vaekit.kinds.text.model_decoding", "from vaekit.kinds.text.render import x\n", True),
        ("vaekit.kinds.text.data_vocab", "from vaekit.kinds.text.model import x\n", True),
        ("vaekit.kinds.text.cli", "from vaekit.cli.options import count\n", False),
        ("vaekit.kinds.text.cli_more", "from vaekit.api.model import load\n", False),
        ("vaekit.kinds.text.render", "from vaekit.kinds.text.cli import add_decoding\n", True),
        ("vaekit.kinds.text.cli", "from vaekit.kinds.text.render import sentences\n", False),
    ],
)
def test_the_check_tells_up_from_down(module, source, wrong):
    assert bool(upward_imports(source, module)) == wrong


def kind_folders() -> set[str]:
    """The kinds of data with a folder of their own under kinds/ (image, table, ...)."""
    return {p.parent.name for p in (SRC / "kinds").glob("*/__init__.py")}


def sideways_kind_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports in `source` (the code of `module`, in a kind's folder) of another kind's
    package: what kinds share lives in the layers (vaekit.report.outputs, say), not in one
    of them."""
    own, kinds = module.split(".")[2], kind_folders()
    bad = []
    for line, target in imported_modules(ast.parse(source), module, is_package):
        parts = target.split(".")
        if parts[:2] == ["vaekit", "kinds"] and len(parts) > 2 and parts[2] in kinds - {own}:
            bad.append(f"{module}:{line} imports {target}")
    return bad


def test_no_kind_imports_another_kind():
    kinds = kind_folders()
    assert {"image", "table", "audio", "text"} <= kinds
    inside = [(name, path) for name, path in _modules()
              if name.split(".")[:2] == ["vaekit", "kinds"] and name.count(".") >= 2
              and name.split(".")[2] in kinds]  # fmt: skip
    assert len(inside) > 4 * len(kinds)
    bad = []
    for name, path in inside:
        bad += sideways_kind_imports(path.read_text(), name, path.name == "__init__.py")
    assert bad == []


@pytest.mark.parametrize(
    ("module", "source", "wrong"),
    [
        ("vaekit.kinds.audio.render", "from vaekit.kinds.image.render import f\n", True),
        ("vaekit.kinds.table.render", "def f():\n    import vaekit.kinds.image\n", True),
        ("vaekit.kinds.text.cli", "import vaekit.kinds.audio.cli\n", True),
        ("vaekit.kinds.series.render", "from vaekit.kinds import image\n", True),
        ("vaekit.kinds.audio.cli", "from ..image import render\n", True),
        ("vaekit.kinds.audio.cli", "from vaekit.kinds.audio import render\n", False),
        ("vaekit.kinds.audio.cli", "from . import render\n", False),
        ("vaekit.kinds.audio.render", "from vaekit.kinds.base import kind\n", False),
        ("vaekit.kinds.audio.render", "from vaekit.report.outputs import f\n", False),
    ],
)
def test_the_kind_check_tells_own_from_another(module, source, wrong):
    assert bool(sideways_kind_imports(source, module)) == wrong


# Cycles still to break, each the modules of one package that import each other: none, and
# none may be added.
KNOWN_CYCLES: list[set[str]] = []


def package_graph(modules: list[tuple[str, Path]]) -> dict[str, set[str]]:
    """module -> the modules of its own package (folder) that it imports, anywhere in it. A
    package's __init__ is a module of that package."""

    def package(name: str) -> str:
        path = _path(name)
        return name if path is not None and path.name == "__init__.py" else name.rpartition(".")[0]

    graph: dict[str, set[str]] = {}
    for name, path in modules:
        found = imported_modules(ast.parse(path.read_text()), name, path.name == "__init__.py")
        graph[name] = {t for _, t in found if t != name and package(t) == package(name)}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[tuple[set[str], list[str]]]:
    """Each set of modules that import each other (directly or not), with a shortest cycle
    [a, b, ..., a] through it from its first module by name."""

    def walk(start: str) -> dict[str, tuple[int, str]]:  # reached -> (steps, came from)
        came, todo = {start: (0, start)}, [start]
        while todo:
            here = todo.pop(0)
            for there in sorted(graph[here] - came.keys()):
                came[there] = (came[here][0] + 1, here)
                todo.append(there)
        return came

    reached = {name: walk(name) for name in graph}
    cycles, seen = [], set()
    for name in sorted(graph):
        came = reached[name]
        back = sorted((came[m][0], m) for m in came if name in graph[m])
        if name in seen or not back:
            continue
        members = {m for m in came if name in reached[m]}
        seen |= members
        path = [back[0][1]]
        while path[-1] != name:
            path.append(came[path[-1]][1])
        cycles.append((members, [*reversed(path), name]))
    return cycles


def test_no_package_holds_an_import_cycle():
    cycles = import_cycles(package_graph(_modules()))
    new = [c for ms, c in cycles if {m.rpartition(".")[2] for m in ms} not in KNOWN_CYCLES]
    assert [" -> ".join(c) for c in new] == []
    assert len(cycles) == len(KNOWN_CYCLES), "a known cycle is gone: take it off KNOWN_CYCLES"


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [({"a", "b"}, ["a", "b", "a"])]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, [({"b", "c"}, ["b", "c", "b"])]),
        (
            {"a": {"b", "c"}, "b": {"c"}, "c": {"a", "d"}, "d": set()},
            [({"a", "b", "c"}, ["a", "c", "a"])],
        ),
        (
            {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}},
            [({"a", "b"}, ["a", "b", "a"]), ({"c", "d"}, ["c", "d", "c"])],
        ),
    ],
)
def test_the_cycle_finder_finds_each_cycle_once(graph, cycles):
    assert import_cycles(graph) == cycles


def test_every_import_inside_the_package_is_an_edge(tmp_path):
    source = tmp_path / "made_up.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from vaekit.data.batches import ImageSet\n"  # another package: no edge
        "from vaekit.models import distributions\n"
        "from . import priors\n"
        "if TYPE_CHECKING:\n    from vaekit.models.flows import Flow\n"
        "def f():\n    import vaekit.models.vae\n"
    )
    graph = package_graph([("vaekit.models.made_up", source)])
    wanted = {f"vaekit.models.{m}" for m in ("distributions", "priors", "flows", "vae")}
    assert graph == {"vaekit.models.made_up": wanted}
