"""The report's sections for a text model: sentences in place of pictures. Sample sentences
(greedy and sampled decodings of prior draws), test lines beside their reconstructions, an
interpolation between two test lines. vaekit.api.report_latent lists them in the page, with
the KL per latent dimension and the latent map, which are the images' own. Every draw is
seeded with the run's seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vaekit.apps import text as apps
from vaekit.errors import VaekitError
from vaekit.report.html import caption, table

if TYPE_CHECKING:
    from vaekit.api.report_view import RunView

SHOWN = 10  # sentences per table


def _words(run: RunView, lines: torch.Tensor) -> list[str]:
    assert run.model.vocab is not None
    return [run.model.vocab.decode(line) for line in lines.reshape(len(lines), -1).tolist()]


def samples_section(run: RunView) -> str:
    vae = run.model.vae
    greedy = apps.sample(vae, SHOWN, torch.Generator().manual_seed(run.seed))
    drawn = apps.sample(vae, SHOWN, torch.Generator().manual_seed(run.seed), "sample")
    rows = zip(_words(run, greedy), _words(run, drawn), strict=True)
    text = (f"{SHOWN} prior draws z ~ p(z) (seed {run.seed}), each decoded greedily and by "
            "sampling every word (temperature 1)")  # fmt: skip
    return table(("greedy", "sampled"), rows) + caption(text)


def reconstructions_section(run: RunView) -> str:
    test = run.need_test()
    x = run.model.prepare(test.images[:SHOWN])
    made = apps.reconstruct(run.model.vae, x)
    rows = zip(_words(run, x), _words(run, made), strict=True)
    text = f"the first {len(x)} test lines (as the vocabulary reads them) and the greedy "
    text += "decoding of their posterior means"
    return table(("input", "reconstruction"), rows) + caption(text)


def interpolation_section(run: RunView) -> str:
    test = run.need_test()
    if len(test) < 2:
        raise VaekitError("the test split holds fewer than two lines")
    x = run.model.prepare(test.images[:2])
    path = apps.interpolate(run.model.vae, x[:1], x[1:], 8)
    rows = [(i, line) for i, line in enumerate(_words(run, path))]
    text = "greedy decodings along the straight line between the posterior means of the "
    text += "first two test lines"
    return table(("step", "sentence"), rows) + caption(text)
