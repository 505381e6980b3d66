"""The text kind's model part, continued: the sentence VAE's decoder and the ways to decode
sentences from it given latents: greedy, sampled, beam search. (vaekit.kinds.text.model
builds the VAE around it.)

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
import torch.nn.functional as F
from torch import nn

from vaekit.kinds.text.data_vocab import BOS, EOS, PAD
from vaekit.progress import pixel_progress


def tokens_of(x: torch.Tensor) -> torch.Tensor:
    """Lines (B, 1, 1, T) or (B, T) of float token indices -> (B, T) int64."""
    return x.reshape(x.shape[0], -1).long()


class SentenceDecoder(nn.Module):
    """z (B, Z) -> Sentences, p(x|z): a GRU language model conditioned on z (its initial
    state, and an input beside every word). `use_latent` False: z is replaced by 0."""

    def __init__(
        self, vocab_size: int, embed_dim: int, hidden: int, latent_dim: int, max_length: int,
        use_latent: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.init = nn.Linear(latent_dim, hidden)
        self.rnn = nn.GRU(embed_dim + latent_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)
        self.max_length = max_length
        self.use_latent = use_latent

    def forward(self, z: torch.Tensor) -> Sentences:
        return Sentences(self, z if self.use_latent else torch.zeros_like(z))

    def start(self, z: torch.Tensor) -> torch.Tensor:
        """The initial state (1, B, H) for latents z (B, Z)."""
        return torch.tanh(self.init(z))[None]

    def run(
        self, inputs: torch.Tensor, z: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Input tokens (B, S) from `state` (1, B, H) -> logits (B, S, V) and the new state."""
        emb = self.embed(inputs)
        emb = torch.cat([emb, z[:, None].expand(-1, inputs.shape[1], -1)], dim=-1)
        out, state = self.rnn(emb, state)
        return self.out(out), state


def decoder_inputs(tokens: torch.Tensor) -> torch.Tensor:
    """The decoder's inputs (B, T) for target tokens (B, T): <bos>, then tokens 0..T-2."""
    bos = torch.full_like(tokens[:, :1], BOS)
    return torch.cat([bos, tokens[:, :-1]], dim=1)


class Sentences:
    """p(x|z) for B latents: the decoder, teacher-forced on the scored lines.

    `log_prob(x)` takes lines (B, 1, 1, T); or (B, 2, 1, T), whose second channel holds the
    decoder's inputs (the lines after word dropout) and whose first the tokens scored."""

    support = "text"

    def __init__(self, decoder: SentenceDecoder, z: torch.Tensor) -> None:
        self.decoder = decoder
        self.z = z

    def token_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_t | x_<t, z) for each position (B, T); 0 at the <pad> positions."""
        tokens = tokens_of(x[:, :1])
        given = tokens_of(x[:, 1:2]) if x.shape[1] == 2 else tokens
        # Only up to the longest line's <eos>: the positions after it are <pad> in every line.
        span = max(int((tokens != PAD).sum(1).max()), 1) if len(tokens) else 1
        scored, given = tokens[:, :span], given[:, :span]
        logits, _ = self.decoder.run(decoder_inputs(given), self.z, self.decoder.start(self.z))
        log_p = F.log_softmax(logits.float(), dim=-1).gather(-1, scored[..., None])[..., 0]
        log_p = torch.where(scored != PAD, log_p, torch.zeros_like(log_p))
        return F.pad(log_p, (0, tokens.shape[1] - span))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) of each line (B,): its words and <eos>."""
        return self.token_log_probs(x).sum(1)

    @property
    def mean(self) -> torch.Tensor:
        """The greedy decoding of each z: lines (B, 1, 1, T) (the most probable token at each
        step, a stand-in for the mode, which no decoder of this kind gives exactly)."""
        return greedy(self.decoder, self.z).reshape(len(self.z), 1, 1, -1).float()


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
        # the largest first at 0: a tiny temperature sharpens to it, with no inf - inf
        top = log_p.max(dim=-1, keepdim=True).values
        probs = torch.softmax((log_p - top) / temperature, dim=-1)
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
