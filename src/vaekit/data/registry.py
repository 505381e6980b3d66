"""Name -> dataset spec: files and their checksums, image shape, value range and pixel kind,
splits."""

from __future__ import annotations

from vaekit.data.spec import _REGISTRY as _REGISTRY
from vaekit.data.spec import DatasetSpec as DatasetSpec
from vaekit.data.spec import FileSpec as FileSpec
from vaekit.data.spec import ImageList as ImageList
from vaekit.data.spec import ImageLister as ImageLister
from vaekit.data.spec import Reader as Reader
from vaekit.data.spec import register as register
from vaekit.errors import VaekitError


def get_spec(name: str) -> DatasetSpec:
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise VaekitError(
            f"unknown dataset {name!r}: known datasets are {known}, or give a path"
        ) from None


def is_dataset_name(source: object) -> bool:
    """Whether `source` names a registered dataset (a name wins over a same-named folder)."""
    _ensure_builtins()
    return isinstance(source, str) and source in _REGISTRY


def dataset_names() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY)


def registered_specs() -> list[DatasetSpec]:
    """Every registered dataset's spec, in the order registered."""
    _ensure_builtins()
    return list(_REGISTRY.values())


def _ensure_builtins() -> None:
    # The built-in entries live in their own module; importing it registers them.
    from vaekit.data import builtin  # noqa: F401
