"""`vaekit data list` says what is present and never promises a download `data fetch`
refuses: its verdict is checked against what fetch does for every registered dataset."""

from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit
from tests.conftest import write_idx_folder
from vaekit.data import fetch as fetch_module
from vaekit.data.registry import dataset_names
from vaekit.errors import VaekitError

BUILT_IN = {"digits", "dsprites"}  # made by vaekit (scikit-learn's digits, the generator)
FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def listing(capsys) -> dict[str, str]:
    assert vaekit("data", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[0]: line.split(None, 1)[1] for line in lines if not line[0].isspace()}


def test_every_dataset_is_present_or_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    write_idx_folder(tmp_path / "mnist")  # the four IDX files MNIST is read from
    rows = listing(capsys)
    assert set(rows) == set(dataset_names())
    assert rows["digits"] == "present: built in"
    assert rows["mnist"] == f"present: {tmp_path / 'mnist'}"
    for name in ("cifar10", "celeba"):  # found by a layout, not files: never "built in"
        assert rows[name].startswith("missing: vaekit cannot download it")
    for name in BUILT_IN:
        assert rows[name] == "present: built in"
    # The tests run offline: nothing is promised (these have no system folder).
    for name in ("binarized-mnist", "olivetti", "svhn"):
        assert rows[name] == "missing: VAEKIT_OFFLINE is set: no downloads"
    # Fashion-MNIST is found in Debian's package folder where that is installed.
    if (FASHION_SYSTEM / "train-images-idx3-ubyte.gz").is_file():
        assert rows["fashion-mnist"] == f"present: {FASHION_SYSTEM}"
    else:
        assert rows["fashion-mnist"] == "missing: VAEKIT_OFFLINE is set: no downloads"


@pytest.mark.parametrize("name", dataset_names())
def test_list_promises_a_download_only_where_fetch_tries_one(name, monkeypatch, capsys):
    monkeypatch.delenv("VAEKIT_OFFLINE")
    tried = []

    def no_network(f, folder, progress=None):
        tried.append(f.url)
        raise fetch_module.DownloadError("no network in the tests")

    monkeypatch.setattr(fetch_module, "download", no_network)
    verdict = listing(capsys)[name]
    if verdict.startswith("present"):
        # Built in, or found in a folder here: fetch has nothing to download.
        where = verdict.removeprefix("present: ")
        assert (where == "built in") == (name in BUILT_IN), verdict
        if name not in BUILT_IN:  # (fetching dSprites would generate all of it: 80 s)
            assert {p.parent for p in fetch_module.fetch(name).values()} == {Path(where)}
        assert tried == []
        return
    with pytest.raises(VaekitError):
        fetch_module.fetch(name)
    promised = verdict == f"missing: `vaekit data fetch {name}` downloads it"
    assert promised == bool(tried), verdict


def test_info_of_a_missing_dataset_says_the_same(capsys):
    assert vaekit("data", "info", "cifar10") == 1
    assert "missing: vaekit cannot download it" in capsys.readouterr().out
    assert vaekit("data", "info", "binarized-mnist") == 1
    assert "missing: VAEKIT_OFFLINE is set" in capsys.readouterr().out
