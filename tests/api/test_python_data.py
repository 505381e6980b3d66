"""Training on the user's own Python data objects (vaekit.data.objects): a map-style torch
Dataset, a pandas DataFrame and a Hugging Face datasets.Dataset, with resume checking the
content's checksum and evaluate taking the object again."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.api.apps import embed
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError

pd = pytest.importorskip("pandas")
hf = pytest.importorskip("datasets")

TINY = {"model": "mlp", "hidden_dims": (16,), "latent_dim": 3, "batch_size": 32, "progress": False}


class Pictures(torch.utils.data.Dataset):
    """(image, label) pairs: 8x8 gray float images whose brightness follows the label, so the
    labels carry information; `bad`: the index of an item of the wrong shape."""

    classes = ("dark", "mid", "light")

    def __init__(self, n: int = 150, bad: int | None = None, shift: float = 0.0) -> None:
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % 3
        self.x = torch.rand(n, 1, 8, 8, generator=g) * 0.4 + self.y[:, None, None, None] * 0.3
        self.x = (self.x + shift).clamp(0, 1)
        self.bad = bad

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        if i == self.bad:
            return torch.zeros(8, 8, 2), 0
        return self.x[i], self.y[i]


def _frame(n: int = 60) -> "pd.DataFrame":
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "width": rng.normal(5, 2, n).round(3),
            "height": rng.integers(0, 40, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "kind": rng.choice(["a", "b"], n),
        }
    )


def test_a_torch_dataset_of_pairs_trains_with_its_labels(tmp_path):
    # conditional: the model is built on the labels, so they must have been read
    run = vaekit.train(Pictures(), out=tmp_path / "run", epochs=1, conditional=True, **TINY)
    data = run.config["data"]
    assert data["source"] == "object" and data["name"] == "<torch Dataset Pictures>"
    assert data["num_classes"] == 3 and data["classes"] == ["dark", "mid", "light"]
    assert data["pixels"] == "continuous" and data["shape"] == [1, 8, 8]
    assert run.config["model"]["num_classes"] == 3
    assert len(data["sha256"]) == 64
    # the same object again: evaluate takes it; without it, one line asks for it
    report = vaekit.evaluate(run.path, data=Pictures(), iw_samples=2, probe=False)
    assert report["split_size"] == data["num_test"]
    assert report["data_sha256"] == data["sha256"] and report["data_is_the_runs"]
    # other data of the same shape is evaluated too, and eval.json says it is not the run's
    other = vaekit.evaluate(run.path, data=Pictures(shift=0.1), iw_samples=2, probe=False)
    assert other["data"] == report["data"]  # the same object's name: the checksum tells
    assert other["data_sha256"] != data["sha256"] and not other["data_is_the_runs"]
    with pytest.raises(VaekitError, match=r"^this run was trained on a Python object, <torch"):
        vaekit.evaluate(run.path, iw_samples=2)


def test_the_streamed_dataset_holds_the_items_in_order_memory_mapped():
    source = Pictures(n=40)
    dataset = open_dataset(source, test_fraction=0.25)
    assert dataset.train.mapped and dataset.test.mapped
    rows = torch.cat([dataset.train.rows, dataset.test.rows]).sort().values
    assert torch.equal(rows, torch.arange(40))
    assert torch.equal(dataset.train.storage, source.x)
    assert torch.equal(dataset.train.storage_labels, source.y)


def test_resume_checks_the_objects_content(tmp_path):
    out = tmp_path / "run"
    vaekit.train(Pictures(), out=out, epochs=1, **TINY)
    resumed = vaekit.resume(out, epochs=2, data=Pictures(), progress=False)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    # the apps take the object as well
    embedded = embed(resumed.model, data=Pictures())
    assert len(embedded["mean"]) == resumed.config["data"]["num_test"]
    assert embedded["labels"] is not None
    with pytest.raises(VaekitError) as err:
        vaekit.resume(out, epochs=3, data=Pictures(shift=0.01), progress=False)
    assert "differs from the data this run was trained on" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_bad_item_is_one_line_naming_its_index(tmp_path):
    with pytest.raises(VaekitError) as err:
        vaekit.train(Pictures(bad=7), out=tmp_path / "run", epochs=1, **TINY)
    assert str(err.value).startswith("<torch Dataset Pictures> item 7: shaped (8, 8, 2)")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_an_iterable_torch_dataset_is_refused(tmp_path):
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([torch.zeros(1, 8, 8)] * 10)

    with pytest.raises(VaekitError, match="an IterableDataset; vaekit reads map-style"):
        open_dataset(Stream())


def test_a_dataframe_trains_as_the_same_table_as_its_csv(tmp_path):
    frame = _frame()
    csv = tmp_path / "frame.csv"
    frame.to_csv(csv, index=False)
    options = {"target": "kind", "id_column": "id", "epochs": 1, **TINY}
    from_frame = vaekit.train(frame, out=tmp_path / "frame", **options)
    from_csv = vaekit.train(csv, out=tmp_path / "csv", **options)
    assert from_frame.config["model"]["kind"] == "table"
    assert from_frame.config["model"]["schema"] == from_csv.config["model"]["schema"]
    ours, theirs = from_frame.config["data"], from_csv.config["data"]
    assert ours["name"] == "<DataFrame 60x5>" and ours["format"] == "dataframe"
    assert ours["sha256"] == theirs["sha256"]  # the same rows, encoded alike
    assert ours["num_classes"] == 2 and ours["classes"] == ["a", "b"]
    assert from_frame.history[0]["train"] == pytest.approx(from_csv.history[0]["train"])
    # --columns applies as to a file
    narrow = vaekit.train(frame, out=tmp_path / "narrow", columns=("width", "color"), **options)
    names = [c["name"] for c in narrow.config["model"]["schema"]["columns"]]
    assert names == ["width", "color"]
    # resuming with a changed frame is refused in one line
    changed = frame.copy()
    changed.loc[3, "width"] = 99.0
    with pytest.raises(VaekitError, match=r"^the data given differs"):
        vaekit.resume(tmp_path / "frame", epochs=2, data=changed, progress=False)
    evaluated = vaekit.evaluate(tmp_path / "frame", data=frame, iw_samples=2)
    assert evaluated["data"] == "<DataFrame 60x5>"
    # without the frame, the line names the CSV; which is the run's data, as it says
    with pytest.raises(VaekitError, match=r"also as the CSV they were saved to without an index"):
        vaekit.evaluate(tmp_path / "frame", iw_samples=2)
    assert vaekit.evaluate(tmp_path / "frame", data=csv, iw_samples=2)["data_is_the_runs"]
    resumed = vaekit.resume(tmp_path / "frame", epochs=2, data=csv, progress=False)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    ids = embed(from_frame.model, data=frame)["ids"]
    assert len(ids) == ours["num_test"] and set(ids) <= set(frame["id"])
    # The model takes the frame's rows as their CSV's (it told the user to encode them by
    # hand), and the schema given the frame itself says how (it raised "'DataFrame' object
    # has no attribute 'column'")
    from vaekit.data.objects import dataframe_rows
    from vaekit.data.rows import read_table

    schema = from_frame.model.schema
    encoded = schema.encode(dataframe_rows(frame))
    np.testing.assert_array_equal(encoded, schema.encode(read_table(csv)))
    by_frame, by_rows = from_frame.model.encode(frame), from_frame.model.encode(encoded)
    assert by_frame.mean.shape == (60, from_frame.model.latent_dim)
    assert torch.equal(by_frame.mean, by_rows.mean) and torch.equal(by_frame.std, by_rows.std)
    with pytest.raises(VaekitError, match=r"^<DataFrame 60x4>: no column 'id', the run's --id"):
        from_frame.model.encode(frame.drop(columns="id"))
    with pytest.raises(VaekitError, match=r"got DataFrame: read_table\(path\) for a file, "):
        schema.encode(frame)


def test_a_hugging_face_dataset_of_images_trains_with_its_class_labels(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    pictures = [Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(90)]
    features = hf.Features({"img": hf.Image(), "digit": hf.ClassLabel(names=["zero", "one"])})
    source = hf.Dataset.from_dict({"img": pictures, "digit": [i % 2 for i in range(90)]}, features)
    run = vaekit.train(source, out=tmp_path / "run", epochs=1, **TINY)
    data = run.config["data"]
    assert data["name"] == "<Hugging Face Dataset 90x2>" and data["pixels"] == "8-bit"
    assert data["classes"] == ["zero", "one"] and data["shape"] == [1, 8, 8]
    dataset = open_dataset(source)
    stored = torch.cat([dataset.train.storage[i] for i in range(3)])
    assert np.array_equal(stored.numpy(), np.stack([np.asarray(p) for p in pictures[:3]]))


def test_a_hugging_face_dataset_of_scalar_columns_is_a_table(tmp_path):
    frame = _frame()
    source = hf.Dataset.from_pandas(frame, preserve_index=False)
    options = {"target": "kind", "id_column": "id"}
    run = vaekit.train(source, out=tmp_path / "run", epochs=1, **options, **TINY)
    assert run.config["model"]["kind"] == "table"
    assert run.config["data"]["format"] == "hf-dataset"
    from_frame = open_dataset(frame, **options)
    assert run.config["data"]["sha256"] == from_frame.info["sha256"]


def test_recognizing_other_sources_imports_neither_pandas_nor_datasets(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from vaekit.kinds.base import recognize_source\n"
        "assert recognize_source(np.zeros((3, 8, 8), np.uint8)).name == 'array'\n"
        "assert recognize_source('x.csv').name == 'missing'\n"
        "assert not {'pandas', 'datasets'} & set(sys.modules), 'imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(vaekit.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_a_dataframes_columns_are_checked_as_a_files_header():
    """The same checks as a file's header (vaekit.data.rows.check_header): each column
    named once, and at most MAX_COLUMNS of them."""
    from vaekit.data.rows import MAX_COLUMNS

    twice = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=["a", "a"])
    with pytest.raises(VaekitError, match="names column 'a' twice"):
        open_dataset(twice)
    wide = pd.DataFrame(
        np.zeros((2, MAX_COLUMNS + 1)), columns=[f"c{i}" for i in range(MAX_COLUMNS + 1)]
    )
    with pytest.raises(VaekitError, match=f"{MAX_COLUMNS + 1} columns, more than {MAX_COLUMNS}"):
        open_dataset(wide)
