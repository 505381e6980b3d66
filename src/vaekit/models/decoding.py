"""Decoding sentences from a SentenceDecoder given latents: greedy, sampled, beam search.

Shapes: B latents, T = max_length + 1 positions, V vocabulary entries, W beams.

Every decoder starts from <bos> and emits tokens until <eos>; <pad> and <bos> are never
emitted, and at the last position only <eos> is, so that each result is a valid line
(B, T): word indices, <eos>, <pad>. Beam search keeps the W most probable partial lines
(sum of token log-probabilities, no length normalization) and returns the most probable
finished one; with W = 1 it is greedy decoding. Long work reports to the progress callback
installed by vaekit.progress.reporting.
"""

from __future__ import annotations

import torch

from vaekit.data.text import BOS, EOS, PAD
from vaekit.models.text import SentenceDecoder
from vaekit.progress import pixel_progress


def _allowed(log_p: torch.Tensor, last: bool) -> torch.Tensor:
    """Log-probabilities (N, V) with <pad> and <bos> excluded, and all but <eos> at the last
    position."""
    log_p = log_p.clone()
    log_p[:, [PAD, BOS]] = -torch.inf
    if last:
        keep = log_p[:, EOS].clone()
        log_p.fill_(-torch.inf)
        log_p[:, EOS] = keep
    return log_p


@torch.no_grad()
def _stepwise(
    decoder: SentenceDecoder,
    z: torch.Tensor,
    pick,
) -> torch.Tensor:
    """Lines (B, T) where pick(log-probs (B, V)) -> next tokens (B,) at each step."""
    if not decoder.use_latent:
        z = torch.zeros_like(z)
    b, steps = len(z), decoder.max_length + 1
    out = torch.full((b, steps), PAD, dtype=torch.long, device=z.device)
    token = torch.full((b, 1), BOS, dtype=torch.long, device=z.device)
    state = decoder.start(z)
    done = torch.zeros(b, dtype=torch.bool, device=z.device)
    for t in range(steps):
        logits, state = decoder.run(token, z, state)
        log_p = _allowed(torch.log_softmax(logits[:, -1].float(), dim=-1), t == steps - 1)
        nxt = pick(log_p)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        out[:, t] = nxt
        done |= nxt == EOS
        if bool(done.all()):
            break
        token = nxt[:, None]
    return out


def greedy(decoder: SentenceDecoder, z: torch.Tensor) -> torch.Tensor:
    """The most probable token at each step, for latents z (B, Z): lines (B, T)."""
    return _stepwise(decoder, z, lambda log_p: log_p.argmax(-1))


def sample(
    decoder: SentenceDecoder,
    z: torch.Tensor,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Each token drawn from softmax(logits / temperature): lines (B, T)."""

    def pick(log_p: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(log_p / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    return _stepwise(decoder, z, pick)


@torch.no_grad()
def beam_search(decoder: SentenceDecoder, z: torch.Tensor, width: int) -> torch.Tensor:
    """The most probable line found by a beam of `width` for each latent z (B, Z): (B, T)."""
    out = torch.full((len(z), decoder.max_length + 1), PAD, dtype=torch.long, device=z.device)
    report = pixel_progress()
    for i in range(len(z)):
        found = _beam_one(decoder, z[i : i + 1], width)
        out[i, : len(found)] = torch.tensor(found, dtype=torch.long)
        if report is not None and len(z) > 1:
            report("beam search", i + 1, len(z))
    return out


def _beam_one(decoder: SentenceDecoder, z: torch.Tensor, width: int) -> list[int]:
    """One latent (1, Z): the tokens (ending in <eos>) of the best finished hypothesis."""
    if not decoder.use_latent:
        z = torch.zeros_like(z)
    steps = decoder.max_length + 1
    lines: list[list[int]] = [[]]
    scores = torch.zeros(1, device=z.device)
    state = decoder.start(z)
    token = torch.full((1, 1), BOS, dtype=torch.long, device=z.device)
    best: tuple[float, list[int]] | None = None
    for t in range(steps):
        n = len(lines)
        logits, state = decoder.run(token, z.expand(n, -1), state)
        log_p = _allowed(torch.log_softmax(logits[:, -1].float(), dim=-1), t == steps - 1)
        total = (scores[:, None] + log_p).flatten()
        vocab = log_p.shape[1]
        top = torch.topk(total, min(width, int(torch.isfinite(total).sum())))
        keep_rows, keep_lines, keep_scores = [], [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            row, tok = divmod(flat, vocab)
            line = [*lines[row], tok]
            if tok == EOS:
                if best is None or score > best[0]:
                    best = (score, line)
            else:
                keep_rows.append(row)
                keep_lines.append(line)
                keep_scores.append(score)
        # A hypothesis that cannot beat the best finished one never will (log-probs only fall).
        alive = [j for j, s in enumerate(keep_scores) if best is None or s > best[0]]
        if not alive:
            break
        index = torch.tensor([keep_rows[j] for j in alive], device=z.device)
        lines = [keep_lines[j] for j in alive]
        scores = torch.tensor([keep_scores[j] for j in alive], device=z.device)
        state = state[:, index]
        token = torch.tensor([[line[-1]] for line in lines], device=z.device)
    assert best is not None  # the last step allows only <eos>
    return best[1]


def line_log_prob(decoder: SentenceDecoder, z: torch.Tensor, lines: torch.Tensor) -> torch.Tensor:
    """log p(line | z) of lines (B, T) under the decoder: (B,)."""
    with torch.no_grad():
        return decoder(z).log_prob(lines.reshape(len(lines), 1, 1, -1).float())
