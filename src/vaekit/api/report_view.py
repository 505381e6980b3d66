"""What a report reads of one run (`RunView`): the one type that the report page
(vaekit.api.report), its section builders (report_latent, report_text, report_audio) and the
comparison page share, in a module of its own so that none of them imports another back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaekit.api.model import Model
from vaekit.data.batches import ImageSet
from vaekit.errors import VaekitError


@dataclass
class RunView:
    """What a report reads of one run: its files, its model, its test split (or why there is
    none), and the seed every picture is drawn with."""

    path: Path
    model: Model
    config: dict[str, Any]
    history: list[dict[str, Any]]
    final: dict[str, Any] | None
    test: ImageSet | None
    test_missing: str | None
    seed: int
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.resolve().name

    def need_test(self) -> ImageSet:
        if self.test is None:
            raise VaekitError(f"no test images ({self.test_missing})")
        return self.test
