"""Read a pickle without letting it run code.

Pickles can name any importable callable and have it called while loading. This unpickler
hands the pickle no real callable at all but three narrow stand-ins: numpy's array
reconstruction (a plain, empty array of a numeric type, filled from raw bytes), dtypes
(numeric only: never an object dtype, whose elements would be pointers), and the latin-1
bytes conversion that Python 3's protocol-2 pickles use. Everything else is refused. A
dataset file can thus hold containers, strings, bytes, numbers and numeric arrays -- and
nothing else.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.errors import VaekitError


class _Refused(pickle.UnpicklingError):
    pass


class _ArrayType:
    """Stands in for numpy.ndarray: accepted by _reconstruct as the array type, but calling
    it (building an array over arbitrary bytes) is impossible."""


_ARRAY = _ArrayType()


def _numeric_dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    dtype = np.dtype(spec)
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields or dtype.subdtype:
        raise _Refused(f"refused a non-numeric dtype {dtype}")
    # Always a copy: the pickle may go on to set the state of the dtype it gets (BUILD),
    # which must never touch numpy's shared built-in instances.
    return np.dtype(dtype, copy=True)


def _reconstruct(array_type: Any, shape: Any, typecode: Any) -> np.ndarray:
    if array_type is not _ARRAY:
        raise _Refused("refused to reconstruct anything but a plain numpy array")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("refused a codec call other than latin-1 text to bytes")
    return codecs.encode(text, "latin1")


_STAND_INS = {
    ("numpy", "ndarray"): _ARRAY,
    ("numpy", "dtype"): _numeric_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("_codecs", "encode"): _latin1,
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _STAND_INS[(module, name)]
        except KeyError:
            raise _Refused(f"refused to load {module}.{name}") from None


def load_safe_pickle(path: Path) -> Any:
    """The object in a pickle file, if it is made only of plain data and numeric arrays."""
    try:
        # From memory: a length in the pickle then never sizes a read beyond the file's end.
        obj = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        _check_plain(obj, path)
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except _Refused as err:
        why = _one_line(err)
        raise VaekitError(f"{path}: not a safe data pickle ({why}); nothing was run") from None
    except VaekitError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        LookupError,
        OSError,
        RecursionError,
        MemoryError,
        OverflowError,
    ) as err:
        raise VaekitError(f"{path}: truncated or corrupt pickle ({_one_line(err)})") from None
    return obj


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return " ".join(line.strip() for line in lines)[:300] or type(err).__name__


def _check_plain(root: Any, path: Path) -> None:
    """Refuse anything but plain data (iteratively, so cycles and depth cannot crash it)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject or obj.dtype.kind not in "biuf":
                raise VaekitError(f"{path}: an array of {obj.dtype} is not numeric data")
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            stack.extend(obj)
        elif not isinstance(obj, str | bytes | int | float | bool | type(None)):
            raise VaekitError(f"{path}: holds a {type(obj).__name__}, not plain data")
