"""Read a pickle without letting it run code.

Pickles can name any importable callable and have it called while loading. This unpickler
resolves only what plain numeric arrays need (numpy's array reconstruction and dtypes, and the
bytes conversion of protocol 2) and
refuses every other global, so a dataset file can hold containers, strings, bytes, numbers
and numeric arrays -- and nothing else.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.errors import VaekitError

_ALLOWED = {
    # Python 3's protocol-2 pickles spell bytes as _codecs.encode(text, "latin1"): a pure
    # conversion, with no access to files or code.
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _Refused(pickle.UnpicklingError):
    pass


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise _Refused(f"refused to load {module}.{name}")


def load_safe_pickle(path: Path) -> Any:
    """The object in a pickle file, if it is made only of plain data and numeric arrays."""
    try:
        with path.open("rb") as f:
            obj = _ArraysOnly(f, encoding="bytes").load()
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except _Refused as err:
        raise VaekitError(f"{path}: not a safe data pickle ({err}); nothing was run") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as err:
        raise VaekitError(f"{path}: truncated or corrupt pickle ({err})") from None
    _check_plain(obj, path)
    return obj


def _check_plain(obj: Any, path: Path) -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise VaekitError(f"{path}: an array of {obj.dtype} is not numeric data")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _check_plain(key, path)
            _check_plain(value, path)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _check_plain(value, path)
    elif not isinstance(obj, str | bytes | int | float | bool | type(None)):
        raise VaekitError(f"{path}: holds a {type(obj).__name__}, not plain data")
