"""Which images a user means, checked against the model: the one place where what a command
is given becomes the model's input.

A user names images as
- an index into the run's test split (or into `data`'s test split),
- an image file (PNG, JPEG) of the model's size, its 8-bit pixels scaled by 255. A gray model
  refuses a color image; a color model takes a gray one as color (R = G = B). An image of
  another size is refused, naming the model's size: resizing or cropping would hand the model
  pixels the user never gave it (and an anomaly score of a resized image scores the resizing),
- a .npy/.npz file of images (all of them), integers scaled by the model's value range;
and, for the other kinds, the files their data parts read (`read_input`, `read_rows`:
vaekit.kinds.protocol): a table's .csv/.parquet rows, encoded with the run's schema; an audio
model's .wav clips.

Every image then goes through `Model.prepare` (shape, channels, value range, finiteness), and
every dataset through `Model.check_shape` (its values were checked when it was read).
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.api.model import Model
from vaekit.api.run import reopen_dataset
from vaekit.data.batches import ImageSet
from vaekit.data.datasets import Dataset
from vaekit.errors import VaekitError
from vaekit.kinds.base import kind


def model_dataset(model: Model, data: Any = None) -> Dataset:
    """The run's dataset (or `data`), refused unless it is of the model's kind of data and its
    examples have the model's shape."""
    dataset = reopen_dataset(model.run_config, data)
    # A path as given; anything else (the run's data, an array, a DataFrame) by info's name
    given = isinstance(data, str | Path)
    source = str(data) if given else str(dataset.info.get("name", "the run's data"))
    if dataset.kind != model.config.kind:
        theirs, ours = kind(dataset.kind).noun, model.kind.noun
        raise VaekitError(f"{source}: {theirs}; this model was trained on {ours}")
    model.check_shape(dataset.shape, source)
    return dataset


def as_spec(spec: Any) -> str:
    """What names an input, as text: a test-split index (an int in Python, digits at the
    command line) or a file's path."""
    if isinstance(spec, numbers.Integral) and not isinstance(spec, bool | np.bool_):
        if spec < 0:
            raise VaekitError(f"{spec}: a test-split index is 0 or more")
        return str(spec)
    if isinstance(spec, str | Path):
        return str(spec)
    raise VaekitError(
        f"expected a test-split index or a file's path, got {type(spec).__name__} (images "
        "themselves go to the Model's methods: model.reconstruct(x))"
    )


class Inputs:
    """Resolves what a user names as images (see the module docstring) for one model.

    A conditional model needs a label with each image, which files do not carry: unless
    `conditional` is True the resolver is for unconditional models only. Files are read by
    the data part of the model's kind (`read_input`, `read_rows`: vaekit.kinds.protocol).
    """

    def __init__(self, model: Model, data: Any = None, *, conditional: bool = False) -> None:
        if not conditional:
            model.require_unconditional("this command")
        self.model = model
        self.data = data
        self._dataset: Dataset | None = None
        self._part = model.kind.part("data")

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            self._dataset = model_dataset(self.model, self.data)
        return self._dataset

    @property
    def test(self) -> ImageSet:
        """The test split, checked against the model and not empty."""
        test = self.dataset.test
        if len(test) == 0:
            raise VaekitError("the test split holds no images: give INPUT files or --data")
        return test

    def first(self, n: int) -> torch.Tensor:
        """The first n images of the test split (fewer if it is smaller): (B, C, H, W) float in
        [0, 1] on the model's device."""
        return self.model.prepare(self.test.scaled(slice(0, n)))

    def images(self, specs: list[str]) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] on the model's device, all the images each spec names,
        in order."""
        return self.named_images(specs)[0]

    def named_images(self, specs: list[str]) -> tuple[torch.Tensor, list[str]]:
        """`images`, with each image's name for the files a command writes: its spec as given
        (a test-split index or a file), and "FILE[i]" for the images of a file that holds
        several."""
        if not specs:
            raise VaekitError("no inputs given")
        specs = [as_spec(spec) for spec in specs]
        parts = [self._one(spec) for spec in specs]
        names = [
            spec if len(x) == 1 else f"{spec}[{i}]"
            for spec, x in zip(specs, parts, strict=True)
            for i in range(len(x))
        ]
        return torch.cat(parts), names

    def one(self, spec: str) -> torch.Tensor:
        """Exactly one image (1, C, H, W): a file that holds several is refused."""
        x = self._one(spec)
        if len(x) != 1:
            raise VaekitError(f"{spec}: holds {len(x)} images where one is needed")
        return x

    def rows(self, specs: list[str]) -> ImageSet:
        """For a model of a kind whose files carry ids and labels (a table's; its data part
        has `read_rows`): the rows that `specs` name -- test-split indices, or files (a
        table's: all their rows, encoded with the run's schema) -- as one set, with each
        row's id, and the labels where every part has them. Given several inputs, a file's
        rows are named FILE[ID], as an image file's images are: ids repeat across files."""
        if not specs:
            raise VaekitError("no inputs given")
        specs = [as_spec(spec) for spec in specs]
        named = [spec for spec in specs if not spec.isdigit()]
        files = [Path(spec).expanduser().resolve() for spec in named]
        twice = next((spec for spec, f in zip(named, files, strict=True) if files.count(f) > 1),
                     None)  # fmt: skip
        if twice is not None:  # its rows would be scored twice under the same names
            raise VaekitError(f"{twice}: given twice")
        parts = [self._rows(spec) for spec in specs]
        labels = [p.labels for p in parts]
        # (ids of a type of their own name their file themselves: a series' StepName)
        several = len(specs) > 1
        ids = [f"{spec}[{i}]" if several and not spec.isdigit() and type(i) is str else i
               for spec, p in zip(specs, parts, strict=True) for i in (p.ids or [])]  # fmt: skip
        return ImageSet(
            parts[0].images if len(parts) == 1 else torch.cat([p.images for p in parts]),
            None if any(part is None for part in labels) else torch.cat(labels),  # type: ignore[arg-type]
            1.0,
            pixels=parts[0].pixels,
            ids=ids,
        )

    def _index(self, spec: str) -> ImageSet:
        """The test split's example at the index `spec` (digits)."""
        i = int(spec)
        if i >= len(self.test):
            raise VaekitError(f"index {i} is past the end of the test split ({len(self.test)})")
        return self.test.subset(torch.tensor([i]))

    def _rows(self, spec: str) -> ImageSet:
        if spec.isdigit():
            return self._index(spec)
        read_rows = getattr(self._part, "read_rows", None)  # optional: kinds with row files
        if read_rows is None:
            raise VaekitError(f"{spec}: this run's model reads no rows from files")
        return read_rows(spec, self.model.schema)

    def _one(self, spec: str) -> torch.Tensor:
        spec = as_spec(spec)
        if spec.isdigit():
            return self.model.prepare(self._index(spec).scaled(slice(None)))
        raw = self._part.read_input(spec, self.model.schema, self.model.shape)
        try:
            return self.model.prepare(raw)
        except VaekitError as err:
            raise VaekitError(f"{Path(spec)}: {err}") from None
