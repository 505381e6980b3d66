"""The text kind's model part (see vaekit.kinds.protocol): a sentence VAE, Bowman et al.
2016, "Generating Sentences from a Continuous Space".

Shapes: B lines, T = max_length + 1 positions, V vocabulary entries, E embedding width,
H recurrent width, Z latent dims. A line is x (B, 1, 1, T) as data_vocab.py stores it:
word indices, <eos>, then <pad>.

- The encoder embeds the words and <eos>, runs a GRU over them and maps its last state to
  q(z|x) = N(mean, diag(exp(logvar))).
- The decoder (vaekit.kinds.text.model_decoding) is a GRU language model conditioned on z:
  its initial state is tanh(W z + b) and z is also concatenated to every input embedding.
  Given the words before position t (<bos> first), it outputs the logits of token t; p(x|z)
  is the product of the categoricals of the words and the <eos> (the <pad> after it is not
  scored).
- Word dropout (Bowman et al., section 3.2): while training, each decoder input word (never
  <bos>) is replaced by <unk> with probability `word_dropout`, so that the decoder must lean on
  z; the scored tokens stay the true ones.
- A language model (`language_model`): the same decoder with its z input fixed at 0 and
  q(z|x) = p(z) = N(0, I), so the KL is 0 and the ELBO is exactly log p(x): the baseline the
  VAE's likelihood is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from vaekit.errors import VaekitError
from vaekit.kinds.text.data import encode_lines as encode_lines  # the protocol's
from vaekit.kinds.text.data_vocab import BOS, EOS, PAD, UNK, Vocabulary
from vaekit.kinds.text.model_decoding import SentenceDecoder, Sentences, tokens_of
from vaekit.kinds.text.options import DEFAULTS as DEFAULTS  # the protocol's
from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.factory import PRIORS, ModelConfig
from vaekit.models.vae import VAE, LossOutput, Objective

PLAIN = Objective()  # the ELBO, weight 1: VAE.loss's default
# The sizes one text record may ask for (besides the vocabulary), within the parameter budget.
MAX_TEXT_WIDTH = 1 << 16


@dataclass(frozen=True)
class TextSpec:
    """A text model's record (a text run's config.json "model.schema"): vocabulary and sizes."""

    vocab: Vocabulary
    embed_dim: int
    rnn_hidden: int
    word_dropout: float
    language_model: bool

    @classmethod
    def from_json(cls, record: Any, where: str = "config.json: model.schema") -> TextSpec:
        if not isinstance(record, dict):
            raise VaekitError(f"{where}: expected a JSON object")
        unknown = sorted(set(record) - {"tokens", "max_length", *TEXT_KEYS})
        if unknown:
            raise VaekitError(f"{where}: unknown key {unknown[0]!r}")
        vocab = Vocabulary.from_json(record, where)
        values = [record.get(k) for k in TEXT_KEYS]
        embed, hidden, dropout, lm = values
        for name, size in (("embed_dim", embed), ("rnn_hidden", hidden)):
            if type(size) is not int or not 1 <= size <= MAX_TEXT_WIDTH:
                raise VaekitError(f"{where}: {name} must be an integer in 1..{MAX_TEXT_WIDTH}")
        if type(dropout) not in (int, float) or not 0 <= dropout < 1:
            raise VaekitError(f"{where}: word_dropout must be a number in [0, 1)")
        if type(lm) is not bool:
            raise VaekitError(f"{where}: language_model must be true or false")
        return cls(vocab, embed, hidden, float(dropout), lm)


TEXT_KEYS = ("embed_dim", "rnn_hidden", "word_dropout", "language_model")


class SentenceEncoder(nn.Module):
    """Lines (B, 1, 1, T) -> (mean, logvar), each (B, Z): a GRU over the words and <eos>."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.rnn = nn.GRU(embed_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ids = tokens_of(x)
        lengths = (ids != PAD).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embed(ids), lengths, True, enforce_sorted=False)
        _, h = self.rnn(packed)
        mean, logvar = self.out(h[-1]).chunk(2, dim=-1)
        return mean, logvar


class TokenLikelihood(nn.Module):
    """The decoder already returns p(x|z) (Sentences); this module names its support."""

    support = "text"
    params_per_channel = 1
    width = 1

    def forward(self, sentences: Sentences) -> Sentences:
        return sentences


def word_dropout(
    tokens: torch.Tensor,
    rate: float,
    generator: torch.Generator | None = None,
    u: torch.Tensor | None = None,
) -> torch.Tensor:
    """Lines (B, T) with each word (not <eos>, not <pad>) replaced by <unk> with probability
    `rate`: the decoder's inputs. <bos> is not in the lines, so it is never replaced. `u`
    (uniforms shaped like `tokens`) decides, or draws from `generator` where not given."""
    if u is None:
        u = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    u = u.reshape(tokens.shape)
    words = (tokens != PAD) & (tokens != EOS)
    return torch.where(words & (u < rate), torch.full_like(tokens, UNK), tokens)


class TextVAE(VAE):
    """The sentence VAE (or, with `language_model`, the plain language model)."""

    def __init__(
        self,
        encoder: nn.Module,
        decoder: SentenceDecoder,
        likelihood: nn.Module,
        prior: nn.Module,
        word_dropout: float = 0.0,
        language_model: bool = False,
    ) -> None:
        super().__init__(encoder, decoder, likelihood, prior)
        self.word_dropout = word_dropout
        self.language_model = language_model

    @property
    def uses_latent(self) -> bool:
        return not self.language_model  # a language model has no latent: KL 0 by design

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiagonalGaussian:
        if not self.language_model:
            return super().encode(x, y)
        zeros = torch.zeros(len(x), self.latent_dim, device=x.device)
        return DiagonalGaussian(zeros, zeros)  # q(z|x) = p(z): KL 0, z unused

    def loss(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        target: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        objective: Objective = PLAIN,
        eps: torch.Tensor | None = None,
        batch_kl: Any = None,
    ) -> LossOutput:
        """VAE.loss, with word dropout on the decoder's inputs while training (drawn from
        `generator` after the posterior noise). The training loop draws the dropout itself,
        for the whole batch (`dropped_words`), so that each line's mask does not depend on
        how a batch is split across processes."""
        if self.training and self.word_dropout > 0 and target is None:
            if eps is None:
                shape = (len(x), objective.iw_samples, self.latent_dim)
                eps = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
            target = self.dropped_words(x, torch.rand(x.shape, generator=generator,
                                                      device=x.device))  # fmt: skip
        return super().loss(x, generator, target, y, objective, eps, batch_kl)

    def dropped_words(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The target that carries word dropout into `loss`: lines x (B, 1, 1, T) and, beside
        them, the decoder's inputs, each word replaced by <unk> where u (B, 1, 1, T) falls
        under the rate: (B, 2, 1, T)."""
        given = word_dropout(tokens_of(x), self.word_dropout, u=u)
        return torch.cat([x, given.to(x.dtype).reshape(x.shape)], dim=1)

    def mean_image(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Greedy decodings of z (B, Z): lines (B, 1, 1, T)."""
        return self.decode(z, y).mean

    def reconstruction_error(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(x | E_q[z|x]) of each line (B,): the tokens' NLL at the posterior mean."""
        return -self.decode(self.posterior_mean(x, y), y).log_prob(x)


# The option values only text takes: a config of another kind naming one is refused.
OWNED = {"family": ("rnn",), "likelihood": ("categorical",)}
OWNED_FOR = "text (.txt data)"


def check(config: ModelConfig) -> None:
    """A text model: its record, and the options that fit sentences (--model rnn, the
    categorical likelihood, no conditioning, a Gaussian posterior)."""
    spec = TextSpec.from_json(config.schema)
    if config.shape != (1, 1, spec.vocab.max_length + 1):
        raise VaekitError(
            f"text of at most {spec.vocab.max_length} tokens has shape (1, 1, "
            f"{spec.vocab.max_length + 1}), not {config.shape}"
        )
    refused = [
        (config.family != "rnn", f"--model {config.family}", "--model rnn"),
        (config.likelihood != "categorical", f"--likelihood {config.likelihood}",
         "--likelihood categorical"),
        (config.num_classes > 0, "--conditional", "an unconditional model"),
        (config.prior == "vamp", "--prior vamp", "--prior standard-normal or mog"),
        (config.flow_steps > 0, "--flow-steps", "a Gaussian posterior (--flow-steps 0)"),
        (config.autoregressive > 0, "--autoregressive", "no --autoregressive (it is already)"),
        (bool(config.custom), "custom modules", "vaekit's own modules"),
    ]  # fmt: skip
    for wrong, given, wanted in refused:
        if wrong:
            raise VaekitError(f"{given} does not fit text: text takes {wanted}")
    if spec.language_model and config.prior != "standard-normal":
        # q(z|x) is the standard normal: against another prior its KL is no longer 0, and
        # the prior's own parameters would carry what the model says it has none of.
        raise VaekitError(f"--prior {config.prior} does not fit --language-model: a language "
                          "model has no latent (its prior is the standard normal)")  # fmt: skip


def likelihood(config: ModelConfig) -> nn.Module | None:
    """The categorical likelihood over the vocabulary (the decoder computes it; this module
    names it); None for a likelihood not text's."""
    return TokenLikelihood() if config.likelihood == "categorical" else None


def assemble(config: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    """The TextVAE: a GRU encoder and decoder over the config's vocabulary (TextSpec), with
    the config's prior or the user's own (`parts`)."""
    spec = TextSpec.from_json(config.schema)
    prior = parts["prior"] if "prior" in parts else PRIORS[config.prior](config)
    v, e, h, z = len(spec.vocab), spec.embed_dim, spec.rnn_hidden, config.latent_dim
    return TextVAE(
        SentenceEncoder(v, e, h, z),
        SentenceDecoder(v, e, h, z, spec.vocab.max_length, not spec.language_model),
        likelihood,
        prior,
        spec.word_dropout,
        spec.language_model,
    )


# --- the facade's questions (vaekit.api: Model, options, train) ---------------------------

# The options a text model is built with unless the user gives them: the sentence VAE, with
# KL warm-up on (Bowman et al. 2016: without it, and without word dropout, the decoder learns
# to ignore the latent) and free bits (Kingma et al. 2016): with warm-up and word dropout
# alone the KL settled near 1 nat per line on Shakespeare, with 0.1 nats per dimension at 3.4
# (BENCHMARKS.md). `defaults` says which of them fit the user's other choices.
# The image and table options text refuses (the options only text takes are its own,
# vaekit.kinds.text.options, refused for other data with `only`'s message).
REFUSED = ("image_size", "pixels", "binarize", "train_noise", "conditional", "columns",
           "target", "id_column", "target_is_label")  # fmt: skip


def defaults(given: dict[str, Any]) -> dict[str, Any]:
    """DEFAULTS less what the user's other choices (`given`) exclude: the IWAE bound
    (--iw-train) and the language model have no KL term to warm up or to floor, and free bits
    need the standard-normal prior."""
    chosen = dict(DEFAULTS)
    if (given.get("iw_train") or 1) > 1 or given.get("language_model"):
        del chosen["kl_warmup"], chosen["free_bits"]  # nothing to warm up or to floor
    elif given.get("prior", "standard-normal") not in (None, "standard-normal"):
        del chosen["free_bits"]
    return chosen


def refused(flag: str) -> str:
    """Why text refuses the option `flag` (one of REFUSED)."""
    return f"{flag} does not apply to text (.txt data)"


def only(flag: str, data: Any) -> str:
    """Why data of another kind, `data`, refuses the option `flag` (one of this kind's
    own options: Kind.load_options)."""
    return f"{flag} is for text (.txt data), and --data {data!r} is not text"


def prepare(x: Any, shape: tuple[int, ...], schema: Vocabulary, max_value: float) -> torch.Tensor:
    """Lines as data_vocab.py stores them (token indices, <eos>, <pad>), (B, T) or
    (B, 1, 1, T) -> float32 (B, 1, 1, T)."""
    t = torch.as_tensor(x).reshape(len(x), -1)
    if t.shape[1] != shape[2] or t.is_complex() or t.dtype == torch.bool:
        raise VaekitError(f"expected lines of {shape[2]} token indices, got {t.shape}")
    t = t.to(torch.float32)
    if bool(((t != t.round()) | (t < 0) | (t >= len(schema))).any()):
        raise VaekitError(f"token indices must be integers in 0..{len(schema) - 1}")
    bad = _not_a_line(t)
    if bad is not None:  # (all <pad> scored as the KL alone: the most normal line of all)
        raise VaekitError(
            f"line {bad} of the token indices is not one: a line is its words, then <eos> "
            f"({EOS}), then <pad> ({PAD}) to the end (encode_lines makes them from sentences)"
        )
    return t.reshape(len(t), 1, 1, -1)


def _not_a_line(t: torch.Tensor) -> int | None:
    """The first row of token indices (B, T) that is not a stored line: a word first, no
    <bos>, and the first <eos> or <pad> an <eos> with only <pad> after it (or none, in a line
    of words to the end); None where every row is one."""
    ends = (t == EOS) | (t == PAD)
    first = ends.float().argmax(1)  # (0 where none: then every token is a word)
    after = torch.arange(t.shape[1], device=t.device)[None] > first[:, None]
    ending = t.gather(1, first[:, None])[:, 0]
    ok = (
        ~ends[:, 0]
        & ~(t == BOS).any(1)
        & (~ends.any(1) | ((ending == EOS) & ((t == PAD) | ~after).all(1)))
    )
    return None if bool(ok.all()) else int((~ok).nonzero()[0, 0])


def record(schema: Vocabulary, options: dict[str, Any]) -> dict[str, Any]:
    """config.json's model.schema: the vocabulary and the text options (TextSpec)."""
    return {**schema.to_json(), **{k: options[k] for k in TEXT_KEYS}}


def options_in_record(record: Any) -> dict[str, Any]:
    """The options a text run records in its model.schema rather than as options of their
    own (the text options and max_length), as `vaekit.train` takes them."""
    if not isinstance(record, dict):
        return {}
    return {k: record[k] for k in (*TEXT_KEYS, "max_length") if k in record}
