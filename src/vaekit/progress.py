"""Progress bars for long work, driven by the (what, done, total) callbacks of the library."""

from __future__ import annotations

from typing import Any


class Bars:
    """A tqdm bar per task name, opened on its first report and closed on the next task.

    Use as a context manager; pass `bars.update` where a progress callback is wanted.
    """

    def __init__(self) -> None:
        self.bar: Any = None
        self.name: str | None = None

    def __enter__(self) -> Bars:
        return self

    def update(self, name: str, done: int, total: int | None) -> None:
        if name != self.name:
            from tqdm.auto import tqdm

            self.close()
            self.name = name
            byte_task = name.startswith("download")
            self.bar = tqdm(
                total=total,
                desc=name,
                unit="B" if byte_task else "img",
                unit_scale=byte_task,
                dynamic_ncols=True,
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __exit__(self, *exc: object) -> None:
        self.close()
