"""No layer outside kinds/ branches on a kind of data (DESIGN.md, "Kinds and families"): the
places in src/vaekit that name a kind or test for one, counted the way issue 26 counts them,
stay within ALLOWED, each listed in JUSTIFIED with why it stays; and no list of model family
names is kept by hand.

Counted outside src/vaekit/kinds/ (docstrings left out):
- a string literal that is a kind's name: "image", "images", "table", "audio", "text",
  "series";
- a test of a kind's record: `x.table is None`, `x.vocab is not None` (an attribute named as
  a kind's old record compared with None), `if x.audio:`, `not x.table`;
- `isinstance(x, TableSchema)` and the like (a kind's schema class).
"""

import ast
from pathlib import Path

from vaekit.kinds.base import family_names

SRC = Path(__file__).resolve().parents[2] / "src" / "vaekit"
NAMES = {"image", "images", "table", "audio", "text", "series"}
RECORDS = {"table", "audio", "vocab", "text", "series", "is_text", "is_table", "is_audio"}
SCHEMAS = {"TableSchema", "AudioFeatures", "Vocabulary", "TextSpec", "SeriesSchema"}

# file: how many places it keeps, and why. None of them chooses what to do by a kind.
JUSTIFIED: dict[str, tuple[int, str]] = {
    "models/io.py": (
        3,
        "_V5_RECORDS: the keys of config.json schema 5's three records, named "
        "as the kinds they held; read once to migrate an old file to schema 6",
    ),
    "data/dataset.py": (
        1,
        "split_stats' key 'images': the count and shape of a split's "
        "examples, as `vaekit data info --json` has always written it",
    ),
    "data/formats.py": (
        1,
        "NPZ_IMAGES: 'images' is a name users give the array in their .npz "
        "files (np.savez(f, images=...)), not a kind",
    ),
}
ALLOWED = 10


def _docstrings(tree: ast.AST) -> set[int]:
    bodies = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, bodies)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _is_place(node: ast.AST, docstrings: set[int]) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in NAMES and id(node) not in docstrings
    if isinstance(node, ast.Compare) and any(isinstance(o, ast.Is | ast.IsNot) for o in node.ops):
        sides = [node.left, *node.comparators]
        return any(isinstance(s, ast.Attribute) and s.attr in RECORDS for s in sides) and any(
            isinstance(s, ast.Constant) and s.value is None for s in sides
        )
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "isinstance"
        and len(node.args) == 2
    ):
        given = node.args[1]
        classes = given.elts if isinstance(given, ast.Tuple) else [given]
        return any(isinstance(c, ast.Name) and c.id in SCHEMAS for c in classes)
    if isinstance(node, ast.If | ast.IfExp | ast.While):
        return isinstance(node.test, ast.Attribute) and node.test.attr in RECORDS
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return isinstance(node.operand, ast.Attribute) and node.operand.attr in RECORDS
    return False


def places(source: str) -> list[int]:
    """The line of each place in `source` that names a kind of data or tests for one."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    return sorted(node.lineno for node in ast.walk(tree) if _is_place(node, docstrings))


def kind_places() -> dict[str, list[int]]:
    """{file under src/vaekit, outside kinds/: the lines of its places}, for files with any."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if relative.parts[0] == "kinds":
            continue
        lines = places(path.read_text())
        if lines:
            found[str(relative)] = lines
    return found


def test_the_counter_finds_each_kind_of_place():
    code = '''
"""A docstring that says table is not counted."""
a = "table"
if model.vocab is not None:
    pass
b = x if dataset.audio else y
ok = isinstance(s, TableSchema)
c = "tables"  # not a kind's name
d = model.schema is None  # not an old record
'''
    assert places(code) == [3, 4, 6, 7]


def test_no_layer_outside_kinds_branches_on_a_kind_of_data():
    found = kind_places()
    unjustified = {f: lines for f, lines in found.items() if len(lines) > JUSTIFIED.get(f, (0,))[0]}
    total = sum(len(lines) for lines in found.values())
    assert not unjustified, f"{total} places; these are not justified: {unjustified}"
    assert total <= ALLOWED


def test_no_list_of_family_names_is_kept_by_hand():
    """Any tuple or list literal in src/vaekit holding two or more family names is a list
    kept by hand (the registry in kinds/base.py is the one place they are declared)."""
    families = set(family_names())
    kept = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                named = [
                    e.value
                    for e in node.elts
                    if isinstance(e, ast.Constant) and e.value in families
                ]
                if len(named) >= 2:
                    kept.append(f"{path.relative_to(SRC)}:{node.lineno} {named}")
    assert not kept, kept


def _lists_of(names: set[str], source: str) -> list[tuple[int, list[str]]]:
    """(line, names) for each tuple, list or set literal in `source` that holds two or more of
    `names`, and each dict literal whose keys do (a dict of builders by name is a list too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elements = node.elts
        elif isinstance(node, ast.Dict):
            elements = [k for k in node.keys if k is not None]
        else:
            continue
        named = [e.value for e in elements if isinstance(e, ast.Constant) and e.value in names]
        if len(named) >= 2:
            found.append((node.lineno, named))
    return found


def test_no_list_of_component_names_is_kept_by_hand():
    """Any literal in src/vaekit holding two or more names of likelihoods, of priors, of
    optimizers or of learning-rate schedules is a list kept by hand (their declarations in
    vaekit/components.py, and a kind's own likelihoods in its options module, are the one
    place they are named); and the check finds one where there is one."""
    from vaekit.components import LIKELIHOODS, LR_SCHEDULES, OPTIMIZERS, PRIORS

    roles = [LIKELIHOODS, PRIORS, OPTIMIZERS, LR_SCHEDULES]
    assert all(len(role.names()) >= 3 for role in roles)
    kept = []
    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text()
        for role in roles:
            for line, named in _lists_of(set(role.names()), source):
                kept.append(f"{path.relative_to(SRC)}:{line} {role.noun}s {named}")
    assert not kept, kept
    # What this test would have caught before the declarations, and what it lets pass.
    likelihoods, schedules = set(LIKELIHOODS.names()), set(LR_SCHEDULES.names())
    assert _lists_of(likelihoods, 'Text(("bernoulli", "gaussian", "mixed"))') == [
        (1, ["bernoulli", "gaussian", "mixed"])
    ]
    assert _lists_of(schedules, 'S = {"constant": f, "cosine": g}') == [(1, ["constant", "cosine"])]
    assert _lists_of(schedules, 'if s == "cosine" or t in ("constant", "other"): pass') == []


def _kind_modules_imported(source: str, kinds: set[str]) -> list[tuple[int, str]]:
    """(line, module) for each import in `source` of a module inside a kind's folder,
    vaekit.kinds.<kind>.<module>, other than the kind's options (its declarations, which the
    lowest layer reads: image sizes' limits, say)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            inside = parts[:2] == ["vaekit", "kinds"] and len(parts) == 4 and parts[2] in kinds
            if inside and parts[3] != "options":
                found.append((node.lineno, module))
    return found


def test_no_module_outside_kinds_imports_a_kinds_own():
    """A layer reaches a kind through the registry (`kind(name).part(layer)`), never by
    importing its modules: a kind's readers, schema, heads and apps stay in its folder."""
    kinds = {p.name for p in (SRC / "kinds").iterdir() if (p / "__init__.py").is_file()}
    assert {"image", "table", "series"} <= kinds
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] != "kinds":
            found += [(str(path.relative_to(SRC)), *hit) for hit in
                      _kind_modules_imported(path.read_text(), kinds)]  # fmt: skip
    assert not found, found
    # what it finds, and what it lets pass
    code = (
        "from vaekit.kinds.table.model import TableVAE\n"
        "from vaekit.kinds.text import apps\n"
        "import vaekit.kinds.audio.data_wav\n"
        "from vaekit.kinds.image.options import MAX_IMAGE_SIZE\n"
        "from vaekit.kinds.base import kind\n"
    )
    assert [line for line, _ in _kind_modules_imported(code, kinds)] == [1, 2, 3]
