"""The VAE: q(z|x) from the encoder, p(z) from the prior, p(x|z) from decoder + likelihood.

Everything the objectives and the evaluation need comes from one method, `terms(x, eps)`: for
n posterior samples per example (z = mean + std * eps, the reparameterization trick of Kingma &
Welling 2014) it returns log p(x|z), log p(z) and log q(z|x), and the KL per latent dimension
in closed form where the prior allows it. From those:
    -ELBO   = rec + kl,  rec = -log p(x|z),  kl = KL(q(z|x) || p(z))  (closed form, or the
              one-sample estimate log q(z|x) - log p(z) for a mixture prior),
    IWAE_K  = log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)   (Burda et al. 2016),
all per example in nats. `loss` adds the training objectives' knobs: a KL weight (beta-VAE,
Higgins et al. 2017, and KL warm-up, Bowman et al. 2016 / Sonderby et al. 2016), free bits
(Kingma et al. 2016) and importance-weighted training.

The posterior is asked through four methods that every family answers the same way:
`posterior_sample` (draws z ~ q(z|x)), `posterior_moments` / `posterior_mean` /
`posterior_std` (its per-dimension mean and spread) and `reconstruct` (the likelihood's mean
at the posterior mean). Here they are exact; a hierarchical model overrides them.

A flow posterior (`flow`, an IAF: vaekit.models.flows) pushes the encoder's Gaussian sample
through invertible steps that also read the encoder's context vector; log q(z|x) subtracts
their log-determinants, so it stays exact, while the KL has no closed form (the one-sample
estimate log q(z|x) - log p(z) is used, as for a mixture prior). Its posterior mean and
standard deviation are Monte Carlo over FLOW_SUMMARY_SAMPLES fixed quasi-random draws.

A conditional VAE (Sohn et al. 2015) gets the class label y as one-hot planes appended to the
encoder's input channels and a one-hot vector appended to the decoder's input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.likelihoods import STANDARDIZED_MAX
from vaekit.models.metrics import mse
from vaekit.models.priors import Density, PriorAt
from vaekit.models.summary_noise import summary_noise

FLOW_SUMMARY_SAMPLES = 64  # posterior draws behind a flow posterior's mean and std


def draws_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean over the posterior draws, dimension 1 of (B, n, ...): with one draw, a view
    of it (no reduction to run forward and backward in every training step)."""
    return t.squeeze(1) if t.shape[1] == 1 else t.mean(1)


@dataclass
class LossOutput:
    """Per-example terms, each (B,), in nats: loss = rec + kl = -ELBO (or the negative IWAE
    bound, with importance-weighted training). `objective` is what the optimizer minimizes
    (B,); `kl_dims` the KL per latent dimension (B, Z) where known in closed form."""

    loss: torch.Tensor
    rec: torch.Tensor
    kl: torch.Tensor
    objective: torch.Tensor | None = None
    kl_dims: torch.Tensor | None = None


@dataclass
class Terms:
    """For B examples and n posterior samples each: log densities (B, n) and the closed-form KL
    per latent dimension (B, n, Z), or None where the prior has none.

    z: the draws themselves (B * n, Z), and qz: q(z|x) (each (B, Z)), for a training
    objective that scores the batch's latents (vaekit.training.objectives); None where the
    model's terms do not give them (a hierarchical model's)."""

    log_px: torch.Tensor
    log_pz: torch.Tensor | None  # None: left out where only the closed-form KL is needed
    log_qz: torch.Tensor | None
    kl_dims: torch.Tensor | None
    z: torch.Tensor | None = None
    qz: DiagonalGaussian | None = None

    @property
    def log_w(self) -> torch.Tensor:
        """Log importance weights log p(x, z) - log q(z|x): (B, n)."""
        return self.log_px + self.log_pz - self.log_qz

    @property
    def kl(self) -> torch.Tensor:
        """KL(q || p) per example (B,): closed form where known, else the sample average."""
        if self.kl_dims is not None:
            return draws_mean(self.kl_dims.sum(-1))
        return draws_mean(self.log_qz - self.log_pz)


@dataclass(frozen=True)
class Objective:
    """How the training loss is formed from the terms.

    beta: the KL weight; free_bits: a floor (nats) under each latent dimension's batch-mean KL;
    iw_samples: K > 1 trains on the importance-weighted bound instead of the ELBO.
    penalty: terms -> an extra loss per example (B,), added to what is minimized (not to the
    -ELBO reported): a training objective's (--objective, vaekit.training.objectives).
    """

    beta: float = 1.0
    free_bits: float = 0.0
    iw_samples: int = 1
    penalty: Callable[[Terms], torch.Tensor] | None = None


class VAE(nn.Module):
    layer_sizes: tuple[int, ...]
    decodes_bottom_layer = False  # a hierarchy whose decoder reads only layer_sizes[0]

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: nn.Module,
        prior: nn.Module,
        num_classes: int = 0,
        flow: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.num_classes = num_classes
        self.latent_dim = int(prior.latent_dim)
        self.layer_sizes = (self.latent_dim,)
        self.flow = flow  # maps (z_0 (N, Z), context (N, H)) to (z (N, Z), log det (N,))
        if flow is not None:
            noise = summary_noise(FLOW_SUMMARY_SAMPLES, self.latent_dim)
            self.register_buffer("summary_noise", noise, persistent=False)

    def _label_planes(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if not self.num_classes:
            return x
        onehot = self._onehot(y, x.shape[0], x.dtype)
        return torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)

    def _onehot(self, y: torch.Tensor | None, n: int, dtype: torch.dtype) -> torch.Tensor:
        if y is None:
            raise ValueError("a conditional VAE needs the class labels y")
        if y.shape != (n,):
            raise ValueError(f"expected {n} labels, got shape {tuple(y.shape)}")
        return F.one_hot(y.long(), self.num_classes).to(dtype)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiagonalGaussian:
        """x: (B, C, H, W) float in [0, 1] (and labels y (B,) if conditional) -> q(z|x).
        The encoder returns a DiagonalGaussian or a (mean, logvar) pair, each (B, Z).
        Code outside the model asks the posterior_* methods, which every family answers."""
        out = self.encoder(self._label_planes(x, y))
        return DiagonalGaussian(*out) if isinstance(out, tuple) else out

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """z: (B, Z) -> p(x|z), a distribution over (B, C, H, W)."""
        if self.num_classes:
            z = torch.cat([z, self._onehot(y, z.shape[0], z.dtype)], dim=1)
        return self.likelihood(self.decoder(z))

    # Where the likelihood's mean is clamped to: the pixel range, or None for data of real
    # numbers (an audio model's standardized spectrograms: set by vaekit.models.factory).
    mean_bounds: tuple[float, float] | None = (0.0, 1.0)

    def mean_image(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The likelihood's mean for latents z (B, Z), clamped to [0, 1] (`mean_bounds`):
        images (B, C, H, W). (A Gaussian likelihood's mean may stray slightly outside the
        pixel range.)"""
        mean = self.decode(z, y).mean
        return mean if self.mean_bounds is None else mean.clamp(*self.mean_bounds)

    # The posterior. Every family answers these four; evaluation and the apps ask nothing else
    # of q(z|x). Here q is the encoder's diagonal Gaussian, so the summaries are exact.

    def posterior_sample(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        n: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """n draws z ~ q(z|x) for each of x (B, C, H, W) (labels y (B,) if conditional):
        (B, n, Z). The noise is standard normal (B, n, Z) from `generator`."""
        eps = torch.randn(
            (len(x), n, self.latent_dim), generator=generator, device=x.device, dtype=x.dtype
        )
        return self._posterior_given_noise(x, eps, y)

    def _posterior_given_noise(
        self, x: torch.Tensor, eps: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Posterior samples (B, n, Z) made from standard normal noise eps (B, n, Z)."""
        qz = self.encode(x, y)
        z = qz.mean[:, None] + qz.std[:, None] * eps  # eps may be (1, n, Z): the same for all
        if self.flow is None:
            return z
        n, dims = z.shape[1:]
        # -1 for the batch, so that a traced graph (vaekit export) keeps it dynamic
        z, _ = self.flow(z.reshape(-1, dims), self._context(qz, n))
        return z.view(-1, n, dims)

    def _context(self, qz: DiagonalGaussian, n: int) -> torch.Tensor:
        """The encoder's context (B, H), repeated for n samples each: (B * n, H)."""
        if qz.context is None:
            raise ValueError("a flow posterior needs an encoder that outputs a context vector")
        return qz.context.repeat_interleave(n, dim=0)

    def posterior_moments(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """E_q[z] and the standard deviation of each z_i under q(z|x): two (B, Z) tensors.
        Exact for the Gaussian; for a flow posterior, the mean and spread of
        FLOW_SUMMARY_SAMPLES draws made from fixed quasi-random noise (the same for every x,
        so the summaries are deterministic functions of x)."""
        if self.flow is None:
            qz = self.encode(x, y)
            return qz.mean, qz.std
        z = self._posterior_given_noise(x, self.summary_noise.to(x.dtype)[None], y)
        return z.mean(1), z.std(1, unbiased=False)

    def posterior_mean(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E_q[z|x]: (B, Z)."""
        return self.posterior_moments(x, y)[0]

    def posterior_std(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The standard deviation of each latent dimension under q(z|x): (B, Z)."""
        return self.posterior_moments(x, y)[1]

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior-mean reconstruction: the likelihood's mean at E_q[z|x], clamped to
        [0, 1]: (B, C, H, W)."""
        return self.mean_image(self.posterior_mean(x, y), y)

    def reconstruction_error(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """How far the posterior-mean reconstruction is from x: the mean squared error of
        each example (B,) (a table's VAE: its -log p(x | E_q[z|x])), x read within
        +-STANDARDIZED_MAX as the models read standardized data (images are within [0, 1])."""
        return mse(self.reconstruct(x, y), x.clamp(-STANDARDIZED_MAX, STANDARDIZED_MAX))

    def _prior_encoder(self, u: torch.Tensor) -> DiagonalGaussian:
        return self.encode(u)

    def prior_density(self) -> Density:
        """p(z) as a value with `log_prob(z)` (a VampPrior's pseudo-inputs encoded once)."""
        if not hasattr(self.prior, "density"):  # a user's prior with log_prob(z, encoder) only
            return PriorAt(self.prior, self._prior_encoder)
        return self.prior.density(self._prior_encoder)

    @property
    def uses_latent(self) -> bool:
        """Whether the model's output depends on z: False for a model with no latent by
        design (a plain language model), whose KL of 0 is no posterior collapse."""
        return True

    @property
    def has_kl_per_dim(self) -> bool:
        """Whether `terms` gives a closed-form KL per latent dimension (free bits need it)."""
        return self.prior.gaussian and self.flow is None

    def terms(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        y: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        pz: Density | None = None,
        densities: bool = True,
    ) -> Terms:
        """The terms for x (B, C, H, W) with standard normal noise eps (B, n, Z). With
        `target`, the encoder sees x and the likelihood scores target. `pz`: the prior's
        `prior_density()`, when the caller scores several batches with the same weights.
        densities=False leaves log p(z) and log q(z|x) out (None), for a caller that needs
        only the closed-form KL (the ELBO's training step)."""
        b, n, _ = eps.shape
        qz, z, log_qz = self.draw_latents(x, eps, y, densities)
        scored = x if target is None else target
        if n > 1:  # each example once per draw
            y = y.repeat_interleave(n) if y is not None else None
            scored = scored.repeat_interleave(n, dim=0)
        log_px = self.decode(z, y).log_prob(scored).view(b, n)
        log_pz = (pz or self.prior_density()).log_prob(z).view(b, n) if densities else None
        return Terms(log_px, log_pz, log_qz, self.kl_dims(qz, n), z, qz)

    def draw_latents(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        y: torch.Tensor | None = None,
        density: bool = True,
    ) -> tuple[DiagonalGaussian, torch.Tensor, torch.Tensor | None]:
        """q(z|x) for x (B, C, H, W), its draws z = mean + std * eps (B * n, Z) through the
        flow where there is one, and log q(z|x) at them (B, n; None with density=False and
        no flow): `terms` without p(x|z), for a caller that scores the draws its own way
        (vaekit.models.importance)."""
        b, n, dims = eps.shape
        qz = self.encode(x, y)
        if n == 1:  # the same draws with fewer views (forward and backward, every step)
            z = qz.mean + qz.std * eps.reshape(b, dims)
        else:
            z = (qz.mean[:, None] + qz.std[:, None] * eps).reshape(b * n, dims)
        if not density and self.flow is None:
            return qz, z, None
        # log q(z|x) at z = mean + std * eps, written through eps (the same value, cheaper).
        log_qz = -0.5 * (math.log(2 * math.pi) + qz.logvar[:, None] + eps**2).sum(-1)
        if self.flow is not None:  # change of variables: log q(z_T) = log q(z_0) - log det
            z, log_det = self.flow(z, self._context(qz, n))
            log_qz = log_qz - log_det.view(b, n)
        return qz, z, log_qz

    def kl_dims(self, qz: DiagonalGaussian, n: int) -> torch.Tensor | None:
        """The closed-form KL per dimension of q(z|x) from the prior, for each of n draws
        (B, n, Z); None where the model has none (has_kl_per_dim)."""
        if not self.has_kl_per_dim:
            return None
        b, dims = qz.mean.shape
        kl = qz.kl_per_dim(self.prior(1)).unsqueeze(1)
        return kl if n == 1 else kl.expand(b, n, dims)

    def loss(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        target: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        objective: Objective = Objective(),
        eps: torch.Tensor | None = None,
        batch_kl: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> LossOutput:
        """Per-example terms for x (B, C, H, W) in [0, 1]. With `target`, the encoder sees x and
        the likelihood scores target (a denoising VAE: x corrupted, target clean).

        eps: the standard normal noise (B, K, Z) behind the posterior samples (default: drawn
        from `generator`). batch_kl: the batch mean of the KL per dimension (Z,) from the
        per-example values (B, Z), for free bits (default: their mean; when a batch is split
        over processes, the mean over the whole batch)."""
        k = objective.iw_samples
        if eps is None:
            eps = torch.randn(
                (len(x), k, self.latent_dim), generator=generator, device=x.device, dtype=x.dtype
            )
        # the densities only where the loss reads them: the IWAE bound, a KL without a closed
        # form, an objective's penalty
        closed = k == 1 and self.has_kl_per_dim and objective.penalty is None
        if closed and type(self).terms is VAE.terms:
            # The training step's case, one draw and the closed-form KL, as `terms` forms it
            # but without its (B, 1) views made and undone: fewer autograd nodes, forward and
            # backward, in every step (about 3% of the reference model's step; a family with
            # its own `terms` forms them itself).
            qz = self.encode(x, y)
            z = qz.mean + qz.std * eps.view(len(x), -1)
            log_px = self.decode(z, y).log_prob(x if target is None else target)
            kl_dims = qz.kl_per_dim(self.prior(1))
            kl = kl_dims.sum(1)
        else:
            t = self.terms(x, eps, y, target, densities=not closed)
            log_px = draws_mean(t.log_px)
            kl = t.kl
            kl_dims = draws_mean(t.kl_dims) if t.kl_dims is not None else None
            if k > 1:
                bound = torch.logsumexp(t.log_w, dim=1) - math.log(k)
                return LossOutput(-bound, -log_px, kl, -bound, kl_dims)
        rec = -log_px
        weighted = kl
        if objective.free_bits > 0:
            if kl_dims is None:
                raise ValueError("free bits need a prior with a closed-form KL per dimension")
            # A dimension whose batch-mean KL is under the floor counts as the floor, with no
            # gradient; so the batch mean of `weighted` is sum_d max(floor, mean KL_d).
            mean = batch_kl(kl_dims.detach()) if batch_kl else kl_dims.detach().mean(0)
            below = mean < objective.free_bits
            weighted = torch.where(below, objective.free_bits, kl_dims).sum(1)
        # (the KL less log p(x|z): rec + KL's value, with one negation fewer in the graph)
        minimized = (weighted if objective.beta == 1 else objective.beta * weighted) - log_px
        if objective.penalty is not None:
            minimized = minimized + objective.penalty(t)
        return LossOutput(rec + kl, rec, kl, minimized, kl_dims)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> LossOutput:
        """The loss (see `loss`): what DistributedDataParallel calls."""
        return self.loss(x, *args, **kwargs)

    def sample_latents(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """n draws z ~ p(z), the prior's spread scaled by `temperature`: (n, Z)."""
        return self.prior.sample(n, generator, temperature, self._prior_encoder)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        y: torch.Tensor | None = None,
    ):
        """p(x|z) for n draws z ~ p(z) (with labels y (n,) for a conditional VAE)."""
        return self.decode(self.sample_latents(n, generator, temperature), y)
