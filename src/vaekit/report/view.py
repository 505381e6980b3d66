"""What a report reads of one run (`RunView`): the one type that the report page
(vaekit.report.page), its shared sections (vaekit.report.latent), each kind's own sections (the
kinds' render parts, vaekit.kinds.<kind>.render) and the comparison page share. It is in the
report layer so that the kinds' render parts, which may not import the api, can name it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vaekit.data.batches import ImageSet
from vaekit.errors import VaekitError

# (model, examples, n) -> the first n examples, scaled, and their reconstructions.
Reconstructor = Callable[[Any, ImageSet, int], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class RunView:
    """What a report reads of one run: its files, its model (a vaekit.api.model.Model), its
    test split (or why there is none), and the seed every picture is drawn with.

    reconstruct_first: the api's vaekit.api.model.reconstruct_first, given by whoever opens
    the run, since this layer cannot import the api (see `reconstructions`)."""

    path: Path
    model: Any
    config: dict[str, Any]
    history: list[dict[str, Any]]
    final: dict[str, Any] | None
    test: ImageSet | None
    test_missing: str | None
    seed: int
    cache: dict[str, Any] = field(default_factory=dict)
    reconstruct_first: Reconstructor | None = None

    @property
    def name(self) -> str:
        return self.path.resolve().name

    def need_test(self) -> ImageSet:
        if self.test is None:
            raise VaekitError(f"no test images ({self.test_missing})")
        return self.test

    def reconstructions(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first n test examples, scaled by the split's value range, and their
        posterior-mean reconstructions: two (n, C, H, W) tensors."""
        if self.reconstruct_first is None:
            raise ValueError("this RunView was opened without a reconstruct_first")
        return self.reconstruct_first(self.model, self.need_test(), n)


# A section's builder: the run -> the section's HTML, or a VaekitError saying why the model or
# the run cannot have it (shown in the section's place).
Builder = Callable[[RunView], str]
