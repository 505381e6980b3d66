"""Sentences through a text model (vaekit.kinds.text.model): sample, reconstruct, interpolate,
score and embed. Thin functions over the model's public pieces, with the randomness passed
in; no file I/O.

Shapes: B lines, T = max_length + 1 positions, Z latent dims, S interpolation steps.
Decoding methods (vaekit.kinds.text.model_decoding): "greedy", "sample" (each word drawn from the
softmax at `temperature`) or "beam" (a beam of `width`).
"""

from __future__ import annotations

import torch

from vaekit.apps.anomaly import anomaly_scores, content_keys
from vaekit.kinds.text.data_vocab import PAD
from vaekit.kinds.text.model import TextVAE, tokens_of
from vaekit.kinds.text.model_decoding import beam_search, greedy
from vaekit.kinds.text.model_decoding import sample as sample_words
from vaekit.models.importance import importance_terms
from vaekit.progress import pixel_progress

DECODINGS = ("greedy", "sample", "beam")
BATCH = 256  # lines decoded or scored at once


@torch.no_grad()
def decode(
    vae: TextVAE,
    z: torch.Tensor,
    method: str = "greedy",
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    width: int = 5,
) -> torch.Tensor:
    """Lines (B, T) decoded from latents z (B, Z) by `method`."""
    if method not in DECODINGS:
        raise ValueError(f"unknown decoding {method!r}: choose from {DECODINGS}")
    report = pixel_progress()
    parts = []
    for start in range(0, len(z), BATCH):
        chunk = z[start : start + BATCH]
        if method == "greedy":
            parts.append(greedy(vae.decoder, chunk))
        elif method == "sample":
            parts.append(sample_words(vae.decoder, chunk, generator, temperature))
        else:
            parts.append(beam_search(vae.decoder, chunk, width))
        if report is not None and len(z) > BATCH:
            report("decode sentences", min(start + BATCH, len(z)), len(z))
    return torch.cat(parts) if parts else torch.zeros(0, vae.decoder.max_length + 1).long()


def sample(
    vae: TextVAE, n: int, generator: torch.Generator, method: str = "greedy",
    temperature: float = 1.0, width: int = 5,
) -> torch.Tensor:  # fmt: skip
    """n lines (n, T) decoded from z ~ p(z)."""
    z = vae.sample_latents(n, generator)
    return decode(vae, z, method, generator, temperature, width)


def reconstruct(
    vae: TextVAE, x: torch.Tensor, method: str = "greedy", width: int = 5
) -> torch.Tensor:
    """Lines x (B, 1, 1, T) decoded from their posterior means: (B, T)."""
    with torch.no_grad():
        z = torch.cat([vae.posterior_mean(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
    return decode(vae, z, method, width=width)


def interpolate(
    vae: TextVAE, a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "greedy",
    width: int = 5,
) -> torch.Tensor:  # fmt: skip
    """Lines (S, T) decoded along the straight path between the posterior means of lines a
    and b (each (1, 1, 1, T)), both ends included."""
    with torch.no_grad():
        za, zb = vae.posterior_mean(a), vae.posterior_mean(b)
    w = torch.linspace(0, 1, steps, device=za.device)[:, None]
    return decode(vae, (1 - w) * za + w * zb, method, width=width)


def embed(vae: TextVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations of lines x (B, 1, 1, T): two (B, Z)."""
    with torch.no_grad():
        parts = [vae.posterior_moments(x[i : i + BATCH]) for i in range(0, len(x), BATCH)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def nll_per_word(
    vae: TextVAE, x: torch.Tensor, k: int = 1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each line's NLL (B,) in nats, the importance-weighted bound with k samples (k = 1:
    the -ELBO, as the anomaly detector's elbo score takes it), and its per-word NLL (B,): over
    the words and <eos>. Lines x are (B, T) or (B, 1, 1, T) (a (B, T) batch of `sample`'s was
    read as B lines of one token each)."""
    x = x.reshape(len(x), 1, 1, -1)
    report = pixel_progress()
    nll = []
    for start in range(0, len(x), BATCH):
        part = x[start : start + BATCH]
        # keyed by each line's tokens, not its place: a line scores the same in any file
        keys = content_keys(part)
        if k > 1:
            nll.append(-importance_terms(vae, part, keys, k, seed).log_likelihood)
        else:  # the same draws as AnomalyDetector's "elbo" (it and the CLI agree)
            nll.append(anomaly_scores(vae, part, keys, "elbo", seed))
        if report is not None and len(x) > BATCH:
            report("score sentences", start + len(part), len(x))
    total = torch.cat(nll) if nll else torch.zeros(0)
    counted = (tokens_of(x) != PAD).sum(1).to(total.device)
    return total, total / counted
