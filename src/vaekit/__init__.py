"""vaekit: Variational Autoencoders, from raw data to a trained model and what it is used for.

    run = vaekit.train(data="fashion-mnist", model="conv", epochs=5, out="runs/fm")
    model = vaekit.load("runs/fm")
    images = model.sample(16)

Importing vaekit is cheap: the heavy modules (torch among them) load on first use.
"""

from importlib import import_module
from typing import Any

from vaekit.version import __version__

_LAZY = {
    "train": "vaekit.api.train",
    "Run": "vaekit.api.train",
    "resume": "vaekit.api.resume",
    "evaluate": "vaekit.api.evaluate",
    "export": "vaekit.api.export",
    "fit_prior": "vaekit.api.fit_prior",
    "load": "vaekit.api.model",
    "Model": "vaekit.api.model",
    "VaekitError": "vaekit.errors",
}

__all__ = [
    "Model",
    "Run",
    "VaekitError",
    "__version__",
    "evaluate",
    "export",
    "fit_prior",
    "load",
    "resume",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
