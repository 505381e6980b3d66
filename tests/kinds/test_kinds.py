"""The registry of kinds of data and their sources: vaekit's own sources are tried in the order
that decides what a path means, each source is recognized as itself, and a kind published
through the `vaekit.kinds` entry points is tried first and opens its own sources; a bad one is
one line."""

import wave
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from vaekit.data.datasets import open_dataset
from vaekit.data.image_dataset import open_arrays
from vaekit.errors import VaekitError
from vaekit.kinds import base
from vaekit.kinds.base import (
    BUILTIN_KINDS,
    Kind,
    Source,
    kind,
    kind_names,
    recognize_source,
    source,
    sources,
)

SUFFIX = ".myarr.npz"  # a third party's files: without it, vaekit would take them for arrays
MYSOURCE = Source("myarrays", f"{__name__}:is_myarrays", f"{__name__}:open_myarrays")
# A kind that only adds a source of images: it declares no parts of its own.
MYKIND = Kind("myarrays", "my arrays", "img", None, (MYSOURCE,))


def is_myarrays(source) -> bool:
    return isinstance(source, str | Path) and str(source).endswith(SUFFIX)


def open_myarrays(source, request):
    """A third party's opener: images made in memory, whatever the path holds (or not)."""
    images = np.random.default_rng(0).integers(0, 256, (20, 4, 4), dtype=np.uint8)
    return open_arrays({"train_images": images}, {"source": "myarrays", "name": str(source)},
                       request.opts)  # fmt: skip


@pytest.fixture
def registry(monkeypatch):
    """A fresh copy of the kinds, with entry points not yet looked up, restored after."""
    monkeypatch.setattr(base.KINDS, "known", dict(base.KINDS.known))
    monkeypatch.setattr(base.KINDS, "loaded", False)


def publish(monkeypatch, *entries: metadata.EntryPoint) -> None:
    """Fake installed packages that publish `entries` in the vaekit.kinds group."""
    real = metadata.entry_points

    def entry_points(**select):
        if select == {"group": base.KIND_ENTRY_POINT_GROUP}:
            return metadata.EntryPoints(entries)
        return real(**select)

    monkeypatch.setattr(metadata, "entry_points", entry_points)


def entry(name: str, value: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name, value, base.KIND_ENTRY_POINT_GROUP)


def test_the_builtin_kinds_and_the_order_of_their_sources():
    assert kind_names() == tuple(k.name for k in BUILTIN_KINDS) == ("image", "table", "audio",
                                                                      "text", "series")  # fmt: skip
    names = ("array", "torch-dataset", "series-dataframe", "dataframe", "hf-pixels",
             "hf-table", "registered", "missing", "audio", "series-folder", "folder",
             "array-file", "series", "series-array", "series-ndarray", "table", "series-named",
             "series-named-dataframe", "series-any-folder", "text")  # fmt: skip
    assert tuple(s.name for s in sources()) == names
    orders = [s.order for s in sources()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert source("table").recognizes == "vaekit.kinds.table.data:is_table_path"
    assert kind("table").part("data").__name__ == "vaekit.kinds.table.data"
    with pytest.raises(VaekitError, match="unknown kind of data 'nope': choose from image, "):
        kind("nope")
    with pytest.raises(VaekitError, match="unknown source 'nope': choose from array, "):
        source("nope")
    with pytest.raises(VaekitError, match="kind of data 'myarrays' declares no model part"):
        MYKIND.part("model")


def _wav(path: Path) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(np.zeros(80, dtype=np.int16).tobytes())


def test_each_source_is_recognized_as_its_kind(tmp_path: Path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    (tmp_path / "s.txt").write_text("a line\n")
    (tmp_path / "sounds").mkdir()
    _wav(tmp_path / "sounds" / "a.wav")
    (tmp_path / "images").mkdir()
    np.savez(tmp_path / "a.npz", train_images=np.zeros((2, 4, 4), dtype=np.uint8))
    (tmp_path / "x.bin").write_bytes(b"")
    expected = {
        "table": tmp_path / "t.csv",
        "text": str(tmp_path / "s.txt"),
        "audio": tmp_path / "sounds",
        "folder": tmp_path / "images",
        "array-file": tmp_path / "a.npz",
        "registered": "digits",
        "missing": tmp_path / "gone.csv",
        "array": np.zeros((2, 4, 4)),
    }
    for name, given in expected.items():
        assert recognize_source(given).name == name, given
    assert recognize_source(tmp_path / "x.bin") is None


def test_a_kind_from_an_entry_point_is_tried_first_and_opens_its_sources(
    tmp_path, monkeypatch, registry
):
    publish(monkeypatch, entry("myarrays", f"{__name__}:MYKIND"))
    assert kind_names()[-1] == "myarrays" and kind_names()[:-1] == tuple(
        k.name for k in BUILTIN_KINDS
    )
    assert sources()[0] is MYSOURCE
    path = tmp_path / f"made{SUFFIX}"  # missing: vaekit's own kinds would refuse it
    assert recognize_source(path) is MYSOURCE
    ds = open_dataset(path, seed=0)
    assert ds.info["source"] == "myarrays" and ds.info["name"] == str(path)
    assert len(ds.train) + len(ds.test) == 20 and ds.train.shape == (1, 4, 4)
    assert recognize_source(tmp_path / "other.npz").name == "missing"  # the rest as before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{__name__}:open_myarrays", "is not a vaekit.kinds.base.Kind"),
        (f"{__name__}:NOWHERE", "cannot be loaded (AttributeError"),
        (f"{__name__}:MYKIND_ELSEWHERE", "declares the kind 'myarrays': name them alike"),
        (f"{__name__}:TABLE", "kind of data 'table' is declared twice"),
    ],
)
def test_a_bad_entry_point_is_one_line(monkeypatch, registry, value, message):
    name = "table" if value.endswith("TABLE") else "other"
    publish(monkeypatch, entry(name, value))
    with pytest.raises(VaekitError, match=message.replace("(", r"\(")) as caught:
        kind_names()
    assert "\n" not in str(caught.value)


def test_a_kind_whose_recognizer_cannot_be_imported_is_one_line(monkeypatch, registry):
    publish(monkeypatch, entry("broken", f"{__name__}:BROKEN"))
    with pytest.raises(VaekitError, match="source 'broken': its recognizer") as caught:
        recognize_source("anything.csv")
    assert "\n" not in str(caught.value)


MYKIND_ELSEWHERE = MYKIND
TABLE = Kind("table", "a table", "row", None, (MYSOURCE,))
BROKEN = Kind(
    "broken", "broken", "img", None,
    (Source("broken", "no_such_module_here:test", f"{__name__}:open_myarrays"),),
)  # fmt: skip


def test_each_kinds_options_are_declared_in_its_folder_and_listed_by_train():
    from vaekit.train_options import TRAIN_OPTIONS

    names = [o.name for o in TRAIN_OPTIONS]
    for declared in BUILTIN_KINDS:
        own = [o.name for o in declared.load_options()]
        assert own and declared.options == f"vaekit.kinds.{declared.name}.options:OPTIONS"
        start = names.index(own[0])
        assert names[start : start + len(own)] == own  # together, in their declared order
    assert kind("table").load_options()[0].name == "columns"
    bad = Kind("bad", "bad", "img", options="vaekit.kinds.base:NOWHERE")
    with pytest.raises(VaekitError, match="kind of data 'bad': its options"):
        bad.load_options()
