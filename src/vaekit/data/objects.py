"""Datasets the user already holds in Python, given to `vaekit.train(data=...)` as they are:
a map-style PyTorch `Dataset` (items: an example, or an `(x, y)` pair), a pandas `DataFrame`
and a Hugging Face `datasets.Dataset`.

Examples of pixels (a torch Dataset's items; a Hugging Face dataset's column of PIL images or
arrays) are read a batch at a time into a file-backed array, memory-mapped, so that a dataset
larger than memory is never held whole: what stays in memory is one batch of items and one
int64 label per example. The file is made in the cache (<cache>/objects/) and unlinked as
soon as it is mapped: it takes disk space only while the process uses it, and a killed process
leaves nothing behind. Rows (a DataFrame's, a Hugging Face dataset's scalar columns) become a
`RawTable`, each cell the text a .csv of the same columns would hold, so that --columns,
--target and --id-column read them as they read a file; a table is held in memory either way
(a DataFrame already is; a file's rows are too).

Every opened object records a checksum of its content (info["sha256"], as for arrays: of the
values, never of the object's identity), so that resuming a run with the same object passes
and with a changed one is refused. Its info names it as "<torch Dataset MyData>",
"<DataFrame 500x6>" or "<Hugging Face Dataset 500x2>", with "source": "object".

The recognizers never import pandas, datasets or torch: an object can only be a DataFrame (or
a Hugging Face dataset) when its package is already loaded, so each looks the class up in
sys.modules, and `import vaekit` and the other sources stay fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.batches import ImageSet
from vaekit.data.checksums import cache_dir
from vaekit.data.dataset import Dataset, OpenOptions
from vaekit.data.image_dataset import _finish
from vaekit.data.rows import MISSING, RawTable, check_header
from vaekit.errors import VaekitError

SOURCE = "object"  # info["source"] of a dataset opened from a Python object
BATCH = 256  # items read before they are written out (and the progress bar moves)
HF_MODULE = "datasets.arrow_dataset"  # where Hugging Face's Dataset class lives


# --- what an object is ---------------------------------------------------------------------


def _loaded_class(module: str, name: str) -> type | None:
    """The class `module`.`name` where that module is already imported; None otherwise (an
    object of that class cannot exist then, and importing it would slow every other source)."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) else None


def is_torch_dataset(source: Any) -> bool:
    """A PyTorch Dataset (map-style or not: an iterable one is refused when opened)."""
    found = _loaded_class("torch.utils.data", "Dataset")
    return found is not None and isinstance(source, found)


def is_dataframe(source: Any) -> bool:
    found = _loaded_class("pandas", "DataFrame")
    return found is not None and isinstance(source, found)


def is_hf_dataset(source: Any) -> bool:
    """A Hugging Face datasets.Dataset (not a DatasetDict: its splits are chosen by name)."""
    found = _loaded_class(HF_MODULE, "Dataset")
    return found is not None and isinstance(source, found)


def is_hf_pixels(source: Any) -> bool:
    """A Hugging Face dataset with a column of pictures (see `hf_pixel_column`)."""
    return is_hf_dataset(source) and hf_pixel_column(source) is not None


def hf_pixel_column(source: Any) -> str | None:
    """The first column of a Hugging Face dataset whose feature is a picture: an `Image`
    (PIL images when read) or an `Array2D`/`Array3D` (arrays (H, W) or (C, H, W))."""
    for name, feature in source.features.items():
        if type(feature).__name__ in ("Image", "Array2D", "Array3D"):
            return name
    return None


def describe_object(source: Any) -> str:
    """How messages and config.json name an object: "<torch Dataset MyData>",
    "<DataFrame 500x6>", "<Hugging Face Dataset 500x2>" (rows x columns)."""
    if is_dataframe(source):
        rows, columns = source.shape
        return f"<DataFrame {rows}x{columns}>"
    if is_hf_dataset(source):
        return f"<Hugging Face Dataset {source.num_rows}x{len(source.column_names)}>"
    return f"<torch Dataset {type(source).__name__}>"


def object_info(source: Any) -> dict[str, Any]:
    """The start of the info of a dataset opened from an object: what it is."""
    return {"source": SOURCE, "name": describe_object(source)}


# --- examples of pixels, streamed into a memory-mapped array -------------------------------


def open_torch_dataset(source: Any, opts: OpenOptions) -> Dataset:
    """A map-style torch Dataset of pictures (C, H, W) or (H, W), uint8 or float in [0, 1],
    each item a tensor (or array, or PIL image) or an (x, y) pair with an integer label y,
    read once, a batch of items at a time, in index order."""
    name = describe_object(source)
    iterable = _loaded_class("torch.utils.data", "IterableDataset")
    if iterable is not None and isinstance(source, iterable):
        raise VaekitError(
            f"{name}: an IterableDataset; vaekit reads map-style Datasets (len() and [i]), "
            "whose examples it can split and shuffle"
        )
    try:
        n = len(source)
    except TypeError:
        raise VaekitError(f"{name}: has no len(); vaekit reads map-style Datasets") from None

    def items() -> Iterator[tuple[Any, Any, bool]]:
        for i in range(n):
            try:
                item = source[i]
            except Exception as err:  # the user's __getitem__: whatever it raises, one line
                raise VaekitError(
                    f"{name} item {i}: could not be read ({type(err).__name__}: {err})"
                ) from err
            pair = isinstance(item, tuple | list)
            if pair and len(item) != 2:
                raise VaekitError(
                    f"{name} item {i}: a sequence of {len(item)}; expected an example or "
                    "an (x, y) pair"
                )
            yield (item[0], item[1], True) if pair else (item, None, False)

    classes = getattr(source, "classes", None)  # torchvision's datasets name their classes
    named = isinstance(classes, list | tuple) and all(isinstance(c, str) for c in classes)
    return _stream(items(), n, name, name, opts, list(classes) if named else [])


def open_hf_pixels(source: Any, opts: OpenOptions) -> Dataset:
    """A Hugging Face dataset's picture column (`hf_pixel_column`), with its labels where it
    has a ClassLabel column (or an integer column called "label" or "labels"), read a batch
    of rows at a time."""
    name = describe_object(source)
    column = hf_pixel_column(source)
    label = _hf_label_column(source)
    wanted = [column] if label is None else [column, label]
    chosen = source.select_columns(wanted)
    if type(source.features[column]).__name__ != "Image":
        chosen = chosen.with_format("numpy")  # arrays as arrays, not nested lists

    def items() -> Iterator[tuple[Any, Any, bool]]:
        for batch in chosen.iter(batch_size=BATCH):
            ys = batch[label] if label is not None else [None] * len(batch[column])
            for x, y in zip(batch[column], ys, strict=True):
                yield x, y, label is not None

    feature = source.features[label] if label is not None else None
    classes = list(getattr(feature, "names", None) or [])
    where = f"{name}, column {column!r},"
    return _stream(items(), source.num_rows, name, where, opts, classes)


def _hf_label_column(source: Any) -> str | None:
    """The labels of a Hugging Face dataset: its first ClassLabel column, else an integer
    column called "label" or "labels"; None where it has neither."""
    for name, feature in source.features.items():
        if type(feature).__name__ == "ClassLabel":
            return name
    for name in ("label", "labels"):
        dtype = getattr(source.features.get(name), "dtype", "")
        if isinstance(dtype, str) and dtype.startswith(("int", "uint")):
            return name
    return None


def _stream(
    items: Iterable[tuple[Any, Any, bool]],
    n: int,
    name: str,
    where: str,
    opts: OpenOptions,
    classes: list[str],
) -> Dataset:
    """Read `n` (example, label, has-label) items into a memory-mapped array, hashing them
    on the way, and open the result as arrays are (the test split carved with the seed).
    name: the object's (describe_object); where: how messages name it ("..., column 'img',")."""
    if n == 0:
        raise VaekitError(f"{where} holds no examples")
    store: np.memmap | None = None
    labels = np.zeros(n, np.int64)
    labelled = False
    first: tuple[tuple[int, ...], np.dtype] | None = None
    h = hashlib.sha256()
    pending: list[np.ndarray] = []
    done = 0
    for i, (x, y, has_label) in enumerate(items):
        if i >= n:
            raise VaekitError(f"{where} yields more than its len() of {n} items")
        pixels = _pixels(x, f"{where} item {i}")
        if first is None:
            first, labelled = (pixels.shape, pixels.dtype), has_label
            store = _mapped_file(n, pixels.shape, pixels.dtype)
            h.update(f"{n} {pixels.shape} {pixels.dtype}\n".encode())
        elif (pixels.shape, pixels.dtype) != first:
            raise VaekitError(
                f"{where} item {i}: a {pixels.dtype} {pixels.shape} example where item 0 is "
                f"{first[1]} {first[0]}: every example needs the same shape and type"
            )
        if has_label != labelled:
            raise VaekitError(
                f"{where} item {i}: {'an (x, y) pair' if has_label else 'no label'}, where item "
                f"0 {'is a pair' if labelled else 'has no label'}: label all or none"
            )
        if has_label:
            labels[i] = _label(y, f"{where} item {i}")
        pending.append(pixels)
        if len(pending) == BATCH or i == n - 1:
            chunk = np.stack(pending)
            store[done : done + len(chunk)] = chunk  # type: ignore[index]
            h.update(chunk.tobytes())
            done += len(chunk)
            pending = []
            if opts.progress:
                opts.progress(f"read {name}", done, n)
    if done != n or store is None:
        raise VaekitError(f"{where} yielded {done} items where its len() is {n}")
    store.flush()
    if labelled:
        h.update(labels.tobytes())
    uint8 = store.dtype == np.uint8
    info = {
        "max_value": 255 if uint8 else 1,
        "pixels": "8-bit" if uint8 else "continuous",
        "sha256": h.hexdigest(),
        "source": SOURCE,
        "name": name,
    }
    if classes and labelled:
        info["classes"] = classes
    full = ImageSet(
        torch.from_numpy(store),
        torch.from_numpy(labels) if labelled else None,
        float(info["max_value"]),
        mapped=True,
    )
    # _finish: the test split carved with the seed, the splits checked, the pixel kind
    # declared (or the user's --pixels checked), the rest of info; no full read (mapped).
    return _finish({"train": full}, info, opts)


def _mapped_file(n: int, shape: tuple[int, ...], dtype: np.dtype) -> np.memmap:
    """A writable array (n, *shape) backed by a file of the cache, which is unlinked at once
    where the system allows it: the mapping keeps its pages, and nothing is left behind."""
    folder = cache_dir() / "objects"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"stream-{os.getpid()}-{id(object())}.bin"
    try:
        store = np.memmap(path, dtype=dtype, mode="w+", shape=(n, *shape))
    except OSError as err:
        raise VaekitError(f"{folder}: cannot make a file to read the data into ({err})") from None
    with contextlib.suppress(OSError):  # Windows keeps an open file: it stays in the cache
        path.unlink()
    return store


def _pixels(x: Any, where: str) -> np.ndarray:
    """One example as an array (C, H, W), C 1 or 3, uint8 or float32 in [0, 1]."""
    if isinstance(x, torch.Tensor):
        a = x.detach().cpu().numpy()
    elif isinstance(x, np.ndarray):
        a = x
    elif type(x).__module__.startswith("PIL."):
        a = _from_pil(x, where)
    else:
        raise VaekitError(
            f"{where}: a {type(x).__name__}; expected a tensor, an array or a PIL image"
        )
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3) or min(a.shape) == 0:
        raise VaekitError(
            f"{where}: shaped {tuple(a.shape)}; expected (C, H, W) with C 1 or 3, or (H, W)"
        )
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise VaekitError(f"{where}: float values must be finite and in [0, 1]")
        return np.ascontiguousarray(a, dtype=np.float32)
    raise VaekitError(f"{where}: values must be uint8 or float in [0, 1], got {a.dtype}")


def _from_pil(picture: Any, where: str) -> np.ndarray:
    """A PIL image's pixels (C, H, W) uint8: gray stays gray, anything else of 8 bits becomes
    RGB; 16-bit and float images are refused (their values would have to be rescaled)."""
    mode = picture.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        raise VaekitError(f"{where}: a {mode!r} PIL image; vaekit reads 8-bit gray or color")
    if mode not in ("L", "RGB"):
        picture = picture.convert("L" if mode in ("1", "LA") else "RGB")
    a = np.asarray(picture, dtype=np.uint8)
    return a if a.ndim == 2 else a.transpose(2, 0, 1)


def _label(y: Any, where: str) -> int:
    """A label: a non-negative integer (a Python int, a NumPy integer, a 0-d or 1-element
    integer tensor)."""
    if isinstance(y, torch.Tensor | np.ndarray) and math.prod(y.shape) == 1:
        y = y.reshape(()).tolist()
    if isinstance(y, np.integer):
        y = int(y)
    if not isinstance(y, int) or isinstance(y, bool) or y < 0:
        raise VaekitError(f"{where}: label {y!r} is not a non-negative integer")
    return y


# --- rows: the cells a .csv of the same columns would hold ---------------------------------


def dataframe_rows(source: Any) -> RawTable:
    """A DataFrame's columns (not its index: as `df.to_csv(f, index=False)` writes it) as a
    RawTable, each cell's text as that file would hold it."""
    import pandas  # loaded: `source` is a DataFrame

    name = describe_object(source)
    names = check_header([str(c) for c in source.columns], name)
    cells = [[_cell(v, pandas.isna) for v in _values(source.iloc[:, i])] for i in range(len(names))]
    return _rows(name, names, cells, len(source))


def _values(column: Any) -> list[Any]:
    """A DataFrame column's values, those of float32 or float16 as the text to_csv writes
    (their own shortest repr, 0.1, where as Python floats they read 0.10000000149011612)."""
    dtype = column.dtype
    if getattr(dtype, "kind", "") == "f" and getattr(dtype, "itemsize", 8) < 8:
        narrow = np.dtype(f"f{dtype.itemsize}")
        return [str(v) for v in column.to_numpy(dtype=narrow, na_value=np.nan)]
    return column.tolist()


def hf_rows(source: Any) -> RawTable:
    """A Hugging Face dataset's scalar columns (each a Value or a ClassLabel feature, the
    latter as its integers; lists, pictures and the like left out) as a RawTable, read
    through Arrow a column at a time: the rows the dataset holds, after any filter, select or
    shuffle (its Arrow table underneath holds every row it was made from)."""
    name = describe_object(source)
    scalar = [
        column
        for column, feature in source.features.items()
        if type(feature).__name__ in ("Value", "ClassLabel")
    ]
    if not scalar:
        raise VaekitError(f"{name}: no column of single values (numbers, text) to read as rows")
    names = check_header(scalar, name)
    rows = source.select_columns(scalar).with_format("arrow")[:]  # (its row mapping applied)
    cells = [[_cell(v, _is_none) for v in rows.column(c).to_pylist()] for c in scalar]
    return _rows(name, names, cells, source.num_rows)


def _rows(name: str, names: list[str], cells: list[list[str | None]], n: int) -> RawTable:
    if n == 0:
        raise VaekitError(f"{name}: no rows")
    return RawTable(Path(name), names, cells, [f"row {i}" for i in range(n)])


def _is_none(value: Any) -> bool:
    return value is None


def _cell(value: Any, missing: Any) -> str | None:
    """A value as the text a .csv would hold (pandas' to_csv writes floats as repr, booleans
    as True/False); None where it is missing (NaN, None, pandas' NA and NaT, or a text a CSV
    reads as missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        text = repr(float(value))  # a NumPy float's repr names its type
    elif isinstance(value, str | int):
        text = str(value).strip()
    elif missing(value) is True:
        return None
    else:
        text = str(value).strip()
    return None if text.lower() in MISSING else text
