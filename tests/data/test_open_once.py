"""A source is recognized once and a registered name looked up once: opening it runs each
kind of data's test at most once, and asks the registry for the spec once, which is then
passed on to find, fetch and verify the files (not looked up again by name at each step)."""

import importlib
from collections import Counter
from pathlib import Path

import pytest

from vaekit.api.data import dataset_info
from vaekit.data import datasets
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.kinds.base import sources

# Every module that looks a spec up by name; each is counted.
_LOOKERS = ("vaekit.kinds.image.data", "vaekit.data.fetch", "vaekit.api.data")


@pytest.fixture
def counts(monkeypatch) -> Counter:
    """Counts of the registry's get_spec calls ("get_spec"), of each source test's runs (by
    its name) and of recognize's calls, while the test runs."""
    seen: Counter = Counter()
    from vaekit.data.registry import get_spec

    def counted_get_spec(name):
        seen["get_spec"] += 1
        return get_spec(name)

    for module in _LOOKERS:
        monkeypatch.setattr(f"{module}.get_spec", counted_get_spec)

    def counted(test):
        def run(source):
            seen[test.__name__] += 1
            return test(source)

        return run

    for source in sources():  # the registry imports each test by its path when it asks it
        module, _, name = source.recognizes.partition(":")
        module = importlib.import_module(module)
        monkeypatch.setattr(module, name, counted(getattr(module, name)))
    recognize = datasets.recognize

    def counted_recognize(source, of_kind=None):
        seen["recognize"] += 1
        return recognize(source, of_kind)

    monkeypatch.setattr(datasets, "recognize", counted_recognize)
    return seen


def _tests_run_at_most_once(seen: Counter) -> None:
    tests = {source.recognizes.partition(":")[2] for source in sources()}
    assert all(seen[name] <= 1 for name in tests), seen


def test_a_registered_name_is_looked_up_once(counts):
    ds = open_dataset("digits")
    assert ds.info["source"] == "registry" and ds.info["name"] == "digits"
    assert counts["get_spec"] == 1 and counts["recognize"] == 1
    _tests_run_at_most_once(counts)
    assert counts["_is_registered"] == 1 and counts["is_table_path"] == 0


def test_a_registered_dataset_described_once(counts):
    info = dataset_info("digits")
    assert info["name"] == "digits" and info["splits"]["train"]["images"][0] > 0
    assert counts["get_spec"] == 1 and counts["recognize"] == 1
    _tests_run_at_most_once(counts)


def test_a_table_path_is_recognized_once(tmp_path: Path, counts):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(12)))
    ds = open_dataset(path)
    assert ds.schema is not None and ds.info["source"] == "path"
    assert counts["get_spec"] == 0 and counts["recognize"] == 1
    _tests_run_at_most_once(counts)
    assert counts["is_table_path"] == 1 and counts["is_text_path"] == 0
    counts.clear()
    info = dataset_info(str(path))
    assert [c["name"] for c in info["columns"]] == ["a", "b"]
    assert counts["get_spec"] == 0 and counts["recognize"] == 1
    _tests_run_at_most_once(counts)


def test_the_order_of_the_tests_decides_what_a_path_means(tmp_path: Path):
    # A missing path is refused before its suffix is read; an unknown suffix names what is read.
    with pytest.raises(VaekitError, match="no such file or folder"):
        open_dataset(tmp_path / "missing.csv")
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(VaekitError, match="expected a dataset folder"):
        open_dataset(tmp_path / "x.bin")
    # A folder named like a table is a folder.
    (tmp_path / "looks.csv").mkdir()
    with pytest.raises(VaekitError, match="no dataset found in this folder"):
        open_dataset(tmp_path / "looks.csv")


def test_a_registered_dataset_with_files_is_looked_up_once(tmp_path: Path, monkeypatch, counts):
    # Its files are searched for, found and checked against the spec's checksums, all with the
    # spec looked up at the start.
    from tests.conftest import write_idx_folder
    from tests.data.writers import register_checksums

    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    write_idx_folder(tmp_path / "mnist", n_train=8, n_test=4, size=28, gz=False)
    register_checksums(monkeypatch, "mnist", tmp_path / "mnist")
    ds = open_dataset("mnist")
    assert (len(ds.train), len(ds.test)) == (8, 4)
    assert counts["get_spec"] == 1 and counts["recognize"] == 1
    _tests_run_at_most_once(counts)
    counts.clear()
    info = dataset_info("mnist")
    assert all(f["path"] is not None for f in info["files"])
    assert counts["get_spec"] == 1 and counts["recognize"] == 1
