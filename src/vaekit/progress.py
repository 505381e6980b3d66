"""Progress bars for long work, driven by the (what, done, total) callbacks of the library."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# Where long pixel-by-pixel work deep inside a model (an autoregressive decoder's sampling,
# reached through VAE.mean_image by every app) reports, without every app passing a callback.
_PIXEL_PROGRESS: ContextVar[Callable[[str, int, int | None], None] | None] = ContextVar(
    "pixel_progress", default=None
)


def pixel_progress() -> Callable[[str, int, int | None], None] | None:
    """The callback `reporting` installed, or None."""
    return _PIXEL_PROGRESS.get()


@contextmanager
def reporting(callback: Callable[[str, int, int | None], None] | None) -> Iterator[None]:
    """Within the block, pixel-by-pixel work reports (what, done, total) to `callback`."""
    token = _PIXEL_PROGRESS.set(callback)
    try:
        yield
    finally:
        _PIXEL_PROGRESS.reset(token)


def bar_class() -> type:
    """tqdm's bar for where the code runs: its notebook form (a widget) in Jupyter where
    ipywidgets is installed, else its console form. tqdm.auto chooses; without ipywidgets it
    warns that the widget is missing before falling back, which here is the intended form,
    so that warning is not shown."""
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*IProgress not found", category=TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


# Tasks that count something else than the bar's examples, by a word of their name: an
# autoregressive decoder's pixels, a text model's sentences (decoded, or by beam search).
TASK_UNITS = (("pixel", "px"), ("sentence", "line"), ("beam", "line"))


class Bars:
    """A tqdm bar per task name, opened on its first report and closed on the next task.

    Use as a context manager; pass `bars.update` where a progress callback is wanted. `unit`:
    what a task over examples counts ("img"; "line" for text, "row" for a table, "clip" for
    audio: each kind's Kind.unit); downloads count bytes, pixel work pixels.
    """

    def __init__(self, unit: str = "img") -> None:
        self.bar: Any = None
        self.name: str | None = None
        self.unit = unit

    def __enter__(self) -> Bars:
        return self

    def update(self, name: str, done: int, total: int | None) -> None:
        if name != self.name:
            self.close()
            self.name = name
            byte_task = name.startswith("download")
            unit = next((u for word, u in TASK_UNITS if word in name), self.unit)
            self.bar = bar_class()(
                total=total,
                desc=name,
                unit="B" if byte_task else unit,
                unit_scale=byte_task,
                dynamic_ncols=True,
            )
        elif done < self.bar.n:  # the same task again (the next batch): start it over
            self.bar.reset(total=total)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.name = None

    def __exit__(self, *exc: object) -> None:
        self.close()
