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
FACADE = 99  # the package itself (vaekit/__init__.py re-exports the api): nothing imports it
EXEMPT = {"vaekit", "vaekit.__main__"}


def layer(module: str) -> str:
    """The layer of a dotted module name under vaekit: its package, or "" at the root."""
    parts = module.split(".")
    if parts == ["vaekit"]:
        return "vaekit"
    return parts[1] if parts[1] in RANKS else ""


def rank(name: str) -> int:
    return FACADE if name == "vaekit" else RANKS.get(name, 0)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted module) for every vaekit module the code imports. `from vaekit import x`
    is the submodule vaekit.x where there is one, else the package itself."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(package + ([base] if base else []))
            if base == "vaekit":
                for alias in node.names:
                    sub = SRC / alias.name
                    exists = sub.is_dir() or sub.with_suffix(".py").exists()
                    found.append((node.lineno, f"vaekit.{alias.name}" if exists else "vaekit"))
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.split(".")[0] == "vaekit"]


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
    ],
)
def test_the_check_tells_up_from_down(module, source, wrong):
    assert bool(upward_imports(source, module)) == wrong
