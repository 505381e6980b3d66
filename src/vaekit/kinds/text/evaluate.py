"""The text kind's evaluate part: see vaekit.kinds.protocol.

Per-word numbers for a text model: the per-line bounds that evaluate_vae reports, spread over
the tokens a line's likelihood scores. A line's log-likelihood is the sum of its tokens'
log-probabilities, the words and the <eos> (data_vocab.counted_tokens); so the per-word
NLL is the sum of the lines' NLLs over the number of those tokens, and the perplexity is
exp(per-word NLL) (as in Bowman et al. 2016 and the language-modelling literature, where the
end token counts as a word).
"""

from __future__ import annotations

import math
from typing import Any

from vaekit.data.batches import ImageSet
from vaekit.kinds.text.data_vocab import Vocabulary, counted_tokens
from vaekit.models.vae import VAE

# An MSE of token indices means nothing.
RECONSTRUCTION_MSE = False


def figures(
    vae: VAE,
    examples: ImageSet,
    schema: Vocabulary,
    report: dict[str, Any],
    reconstruction: bool,
) -> None:
    """No reconstruction section, and the bounds per word instead of per dimension: a line's
    dimensions count its padding, so per dimension would depend on the longest line."""
    report.pop("reconstruction")
    report["elbo"].pop("loss_per_dim")
    report["iwae"].pop("nll_per_dim")
    report["text"] = {**per_word(report, examples), "language_model": not vae.uses_latent}


def per_word(report: dict[str, Any], data: ImageSet) -> dict[str, Any]:
    """The text section of an evaluation report from its per-line "iwae" and "elbo" means."""
    lines = len(data)
    tokens = counted_tokens(data.images.numpy())
    nll_word = report["iwae"]["nll"] * lines / tokens
    neg_elbo_word = report["elbo"]["loss"] * lines / tokens
    return {
        "tokens_counted": "words and the end-of-line token",
        "num_lines": lines,
        "num_tokens": tokens,
        "iw_samples": report["iwae"]["k"],
        "nll_per_line": report["iwae"]["nll"],
        "nll_per_word": nll_word,
        "perplexity": math.exp(nll_word),
        "elbo_per_line": -report["elbo"]["loss"],
        "neg_elbo_per_word": neg_elbo_word,
        "perplexity_elbo": math.exp(neg_elbo_word),
        "kl_per_line": report["elbo"]["kl"],
    }
