"""Which images a user means, checked against the model: the one place where what a command
is given becomes the model's input.

A user names images as
- an index into the run's test split (or into `data`'s test split),
- an image file (PNG, JPEG) of the model's size, its 8-bit pixels scaled by 255. A gray model
  refuses a color image; a color model takes a gray one as color (R = G = B). An image of
  another size is refused, naming the model's size: resizing or cropping would hand the model
  pixels the user never gave it (and an anomaly score of a resized image scores the resizing),
- a .npy/.npz file of images (all of them), integers scaled by the model's value range.

Every image then goes through `Model.prepare` (shape, channels, value range, finiteness), and
every dataset through `Model.check_shape` (its values were checked when it was read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaekit.api.model import Model
from vaekit.api.run import reopen_dataset
from vaekit.data.batches import ImageSet, scale
from vaekit.data.datasets import Dataset
from vaekit.data.folders import MAX_PIXELS, Decode, decode_image
from vaekit.data.formats import read_array_file
from vaekit.data.tables import is_table_path, read_table
from vaekit.errors import VaekitError

ARRAY_SUFFIXES = (".npy", ".npz")


def model_dataset(model: Model, data: Any = None) -> Dataset:
    """The run's dataset (or `data`), refused unless its images have the model's shape."""
    dataset = reopen_dataset(model.run_config, data)
    source = str(data) if data is not None else str(dataset.info.get("name", "the run's data"))
    if (dataset.audio is None) != (model.config.audio is None):
        ours = "audio" if model.config.audio is not None else "other data"
        theirs = "audio" if dataset.audio is not None else "not audio"
        raise VaekitError(f"{source}: {theirs}; this model was trained on {ours}")
    if (dataset.kind != "table") != (model.config.table is None):
        ours = "a table" if model.config.table is not None else "images"
        theirs = "a table" if dataset.kind == "table" else "images"
        raise VaekitError(f"{source}: {theirs}; this model was trained on {ours}")
    if (dataset.vocab is None) != (model.config.text is None):
        ours = "text" if model.config.text is not None else "images or a table"
        theirs = "text" if dataset.vocab is not None else "images or a table"
        raise VaekitError(f"{source}: {theirs}; this model was trained on {ours}")
    model.check_shape(dataset.shape, source)
    return dataset


def image_size_text(shape: tuple[int, int, int]) -> str:
    """'8x8 gray' or '32x32 color' for a (C, H, W) shape: width x height, as image tools say."""
    c, h, w = shape
    return f"{w}x{h} {'gray' if c == 1 else 'color'}"


class Inputs:
    """Resolves what a user names as images (see the module docstring) for one model.

    A conditional model needs a label with each image, which files do not carry: unless
    `conditional` is True the resolver is for unconditional models only.
    """

    def __init__(self, model: Model, data: Any = None, *, conditional: bool = False) -> None:
        if not conditional:
            model.require_unconditional("this command")
        self.model = model
        self.data = data
        self._dataset: Dataset | None = None

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
        if not specs:
            raise VaekitError("no inputs given")
        return torch.cat([self._one(spec) for spec in specs])

    def one(self, spec: str) -> torch.Tensor:
        """Exactly one image (1, C, H, W): a file that holds several is refused."""
        x = self._one(spec)
        if len(x) != 1:
            raise VaekitError(f"{spec}: holds {len(x)} images where one is needed")
        return x

    def rows(self, specs: list[str]) -> ImageSet:
        """For a table's model: the rows that `specs` name -- test-split indices, or table
        files (.csv, .parquet: all their rows, encoded with the run's schema) -- as one set,
        with each row's id, and the labels where every part has them."""
        if not specs:
            raise VaekitError("no inputs given")
        parts = [self._rows(spec) for spec in specs]
        labels = [p.labels for p in parts]
        ids = [i for p in parts for i in (p.ids or [])]
        return ImageSet(
            torch.cat([p.images for p in parts]),
            None if any(part is None for part in labels) else torch.cat(labels),  # type: ignore[arg-type]
            1.0,
            pixels="table",
            ids=ids,
        )

    def _rows(self, spec: str) -> ImageSet:
        if spec.isdigit():
            i = int(spec)
            if i >= len(self.test):
                raise VaekitError(f"index {i} is past the end of the test split ({len(self.test)})")
            return self.test.subset(torch.tensor([i]))
        path = Path(spec)
        if not path.is_file() or not is_table_path(path):
            raise VaekitError(f"{spec}: neither a test-split index nor a .csv/.parquet table file")
        schema = self.model.table
        assert schema is not None
        raw = read_table(path)
        labels = schema.labels(raw, required=False)
        return ImageSet(
            torch.from_numpy(schema.encode(raw)).reshape(len(raw), 1, 1, -1),
            torch.from_numpy(labels) if labels is not None else None,
            1.0,
            pixels="table",
            ids=schema.ids(raw),
        )

    def _one(self, spec: str) -> torch.Tensor:
        if self.model.table is not None:
            return self.model.prepare(self._rows(spec).images)
        if spec.isdigit():
            i = int(spec)
            if i >= len(self.test):
                raise VaekitError(f"index {i} is past the end of the test split ({len(self.test)})")
            return self.model.prepare(self.test.scaled(torch.tensor([i])))
        path = Path(spec)
        if path.is_dir():
            raise VaekitError(f"{spec}: a folder; give image files or test-split indices")
        if not path.is_file():
            raise VaekitError(f"{spec}: neither a test-split index nor an existing file")
        if self.model.audio is not None:
            if path.suffix.lower() != ".wav":
                raise VaekitError(f"{spec}: this run's model takes .wav files (or test indices)")
            return self.model.prepare(self.model.audio.read(path))
        if path.suffix.lower() in ARRAY_SUFFIXES:
            raw = read_array_file(path)["train_images"]
        else:
            raw = self._decode(path)
        if raw.ndim > 0 and raw.shape[0] == 0:
            raise VaekitError(f"{path}: holds no images")
        try:
            return self.model.prepare(raw)
        except VaekitError as err:
            raise VaekitError(f"{path}: {err}") from None

    def _decode(self, path: Path) -> torch.Tensor:
        """An image file's pixels at its own size as (1, C, H, W) float in [0, 1], refused
        unless they fit the model: the model's size, and gray for a gray model."""
        c, h, w = self.model.shape
        pixels = decode_image(path, Decode(None, "rgb", None), max_pixels=MAX_PIXELS)
        if pixels is None:
            raise VaekitError(f"{path}: not a readable PNG or JPEG image")
        x = torch.from_numpy(pixels)
        gray = bool((x[0] == x[1]).all() and (x[1] == x[2]).all())
        expected = f"this model takes {image_size_text(self.model.shape)} images"
        if c == 1 and not gray:
            raise VaekitError(f"{path}: a color image; {expected}: convert it to grayscale")
        if tuple(x.shape[1:]) != (h, w):
            got = f"{x.shape[2]}x{x.shape[1]}"
            raise VaekitError(f"{path}: a {got} image; {expected}: resize it to {w}x{h}")
        return scale(x[:c][None], 255)
