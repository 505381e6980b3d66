"""The version of vaekit, at the lowest layer so that any module may record it (config.json,
eval.json) without importing the package's facade."""

__version__ = "0.1.0"
