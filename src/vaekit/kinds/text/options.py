"""The options of `vaekit train` particular to text (.txt data, one sentence per line).

Part of the one declaration of every training option (vaekit.train_options). Recorded in
config.json in a text model's record, model.schema (vaekit.kinds.text.model.TextSpec), not as
options of their own.
"""

from __future__ import annotations

from vaekit.components import Component
from vaekit.options import Flag, Float, Int, Option

# The values this kind gives `vaekit train`'s options in place of their defaults (its model
# part's DEFAULTS; kept here, beside its options, so that `vaekit train --help` shows them).
DEFAULTS: dict[str, object] = {
    "model": "rnn",
    "likelihood": "categorical",
    "kl_warmup": 2000,
    "free_bits": 0.1,
}

OPTIONS = [
    Option(
        "vocab_size",
        Int(least=1),
        10_000,
        "for text: the vocabulary, the N most frequent tokens of the training lines (lowercased "
        "words and punctuation marks); any other token reads as <unk>",
        "data",
        metavar="N",
    ),
    Option(
        "max_length",
        Int(least=1, most=1000),  # data_vocab.MAX_LENGTH (a layer above this file)
        40,
        "for text: the longest line kept, in tokens; longer training and test lines are "
        "dropped (`vaekit data info` counts them), longer sentences given later are truncated",
        "data",
        metavar="N",
    ),
    Option(
        "embed_dim",
        Int(least=1),
        128,
        "for text: the width of the word embeddings (encoder and decoder)",
        "model",
        metavar="E",
    ),
    Option(
        "rnn_hidden",
        Int(least=1),
        256,
        "for text: the width of the GRU encoder's and decoder's state",
        "model",
        metavar="H",
    ),
    Option(
        "word_dropout",
        Float(below=1.0),
        0.25,
        "for text: while training, each decoder input word is replaced by <unk> with this "
        "probability, so that the decoder needs the latent (Bowman et al. 2016); 0 is off",
        "objective",
        metavar="P",
    ),
    Option(
        "language_model",
        Flag(),
        False,
        "for text: train the decoder alone, as a plain language model (no latent: its KL is "
        "0 and its ELBO is its exact log-likelihood), to compare a VAE's NLL with",
        "model",
    ),
]

# The likelihood only text takes, for --likelihood's choices and help (vaekit.components); the
# model part builds it, and its OWNED refuses it for other data.
LIKELIHOODS = [
    Component(
        "categorical",
        "for text (and chosen for it): a categorical over the vocabulary for each word and the "
        "end of the line",
    ),
]
