"""The model options of `vaekit train`: the family, its latent space, p(x|z), the prior and
the posterior.

Part of the one declaration of every training option (vaekit.train_options).
"""

from __future__ import annotations

from typing import Any

from vaekit.components import LIKELIHOODS, PRIORS, ComponentName
from vaekit.kinds.base import BUILTIN_FAMILIES, family_names
from vaekit.options import Flag, Float, Int, Kind, Option, Text, Widths


class FamilyName(Kind):
    """A model family's name. The choices are read from the family registry
    (vaekit.kinds.base) each time they are asked for, so that a family an installed package
    adds through the `vaekit.families` entry points is one of them, and no list is kept here."""

    @property
    def choices(self) -> tuple[str, ...]:
        return family_names()

    def check(self, value: Any) -> str:
        return Text(self.choices).check(value)


def _families_help() -> str:
    """--model's help, from each of vaekit's own families' declared help. (A help string is
    fixed when the option is declared, at import, before any entry point is looked up: a
    third party's family is listed among the choices but not described here.)"""
    clauses = [f"{f.name} ({f.help})" for f in BUILTIN_FAMILIES]
    return "encoder/decoder family: " + ", ".join(clauses[:-1]) + ", or " + clauses[-1]


MODEL_OPTIONS = [
    Option(
        "model",
        FamilyName(),
        "conv",
        _families_help(),
        "model",
        section="model",
        key="family",
    ),
    Option(
        "latent_dim",
        Int(least=1),
        20,
        "number of latent dimensions, per layer for hvae; for hconv the channels of each "
        "latent map (a map at 7x7 with Z=4 is 196 dimensions: keep it small)",
        "model",
        section="model",
        metavar="Z",
    ),
    Option(
        "hidden_dims",
        Widths(),
        (400,),
        "MLP hidden layer widths, encoder order; the decoder mirrors them; hvae's blocks "
        "use the first",
        "model",
        section="model",
        metavar="W[,W...]",
    ),
    Option(
        "channels",
        Widths(),
        (32, 64),
        "conv/resnet/hconv channels per stride-2 stage; the decoder mirrors them",
        "model",
        section="model",
        metavar="C[,C...]",
    ),
    Option(
        "depth",
        Int(least=0),
        2,
        "resnet: residual blocks per stage; hconv: per stage and after each latent group",
        "model",
        section="model",
        metavar="N",
    ),
    Option(
        "layers",
        Int(least=1),
        2,
        "hvae: stochastic layers, at least 2; hconv: latent groups per scale",
        "model",
        section="model",
        metavar="L",
    ),
    # vqvae's own (vaekit.models.vqvae): its codebook and the codebook's updates.
    Option(
        "codebook_size",
        Int(least=2),
        512,
        "vqvae: K, the number of codes in the codebook",
        "model",
        section="model",
        metavar="K",
    ),
    Option(
        "commitment",
        Float(),
        0.25,
        "vqvae: the commitment loss's weight (beta in van den Oord et al. 2017), pulling the "
        "encoder's outputs to their codes",
        "model",
        section="model",
        metavar="B",
    ),
    Option(
        "codebook_decay",
        Float(below=1.0),
        0.99,
        "vqvae: the decay of the codebook's exponential moving averages (0: each code jumps to "
        "the mean of its batch's vectors)",
        "model",
        section="model",
        metavar="D",
    ),
    Option(
        "likelihood",
        ComponentName(LIKELIHOODS),
        "bernoulli",
        LIKELIHOODS.help(),
        "model",
        section="model",
    ),
    Option(
        "gaussian_variance",
        Text(("fixed", "global", "pixel")),
        "fixed",
        "gaussian: a fixed standard deviation (--gaussian-std), one learned for all "
        "pixels (starting at --gaussian-std), or one per pixel predicted by the decoder; for "
        "a table's numeric columns (mixed): global learns one per column, pixel predicts one per "
        "row and column",
        "model",
        section="model",
    ),
    Option(
        "gaussian_std",
        Float(positive=True),
        0.1,
        "standard deviation of the gaussian likelihood, in [0, 1] pixel units (for a table, "
        "in standard deviations of each numeric column)",
        "model",
        section="model",
        metavar="S",
    ),
    Option(
        "mixtures",
        Int(least=1),
        5,
        "logistic-mixture(-coupled): components per pixel and channel",
        "model",
        section="model",
        metavar="N",
    ),
    Option(
        "autoregressive",
        Int(least=0),
        0,
        "an autoregressive decoder: a PixelCNN of N masked, gated layers (van den Oord et al. "
        "2016) reads the image and the decoder's features of z, as in PixelVAE (Gulrajani et "
        "al. 2017); with bernoulli or the logistic likelihoods; sampling is pixel by pixel "
        "(H x W passes); 0 is off",
        "model",
        section="model",
        metavar="N",
    ),
    Option(
        "ar_kernel",
        Int(least=3),
        3,
        "--autoregressive: the masked convolutions' kernel size K (odd); the receptive field "
        "reaches N * (K // 2) rows up, and a small one keeps the latent code in use",
        "model",
        section="model",
        metavar="K",
    ),
    Option(
        "ar_width",
        Int(least=1),
        32,
        "--autoregressive: channels of the gated layers; the decoder gives that many "
        "feature maps per image channel",
        "model",
        section="model",
        metavar="W",
    ),
    Option(
        "prior",
        ComponentName(PRIORS),
        "standard-normal",
        PRIORS.help(),
        "model",
        section="model",
    ),
    Option(
        "prior_components",
        Int(least=1),
        10,
        "mog components or vamp pseudo-inputs",
        "model",
        section="model",
        metavar="K",
    ),
    Option(
        "flow_steps",
        Int(least=0),
        0,
        "a flow posterior: N inverse autoregressive flow steps on top of the encoder's Gaussian "
        "(IAF, Kingma et al. 2016), each an autoregressive network of z and of a context "
        "vector that the encoder also outputs, so that q(z|x) can be skewed and correlated, "
        "not only a diagonal Gaussian; log q(z|x) stays exact, the KL becomes a one-sample "
        "estimate (no --free-bits), and posterior means are Monte Carlo averages; mlp, conv "
        "and resnet; 0 is off",
        "model",
        section="model",
        metavar="N",
    ),
    Option(
        "flow_hidden",
        Int(least=1),
        128,
        "with --flow-steps: the width of each IAF step's two hidden layers and of the "
        "encoder's context vector",
        "model",
        section="model",
        metavar="W",
    ),
    Option(
        "conditional",
        Flag(),
        False,
        "a conditional VAE (Sohn et al. 2015): the class label goes to the encoder and "
        "the decoder; then `vaekit sample RUNDIR --label 3` draws class 3; config.json records "
        "it as the model's num_classes",
        "model",
    ),
]
