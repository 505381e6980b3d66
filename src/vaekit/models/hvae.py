"""A hierarchical VAE with top-down inference, sized for CPUs.

L stochastic layers z_1 (bottom) .. z_L (top), each of Z dimensions (Sonderby et al. 2016,
"Ladder Variational Autoencoders"; the posterior parameterization follows Vahdat & Kautz 2020,
"NVAE", with MLPs in place of convolutions):

    generative:  p(z_L) = N(0, I),  p(z_l | z_{l+1}) = N(mu_p(t_l), sigma_p(t_l)),
                 t_l = g_l(z_{l+1}),  p(x | z_1) = likelihood(decoder(z_1))
    inference:   d_1 = f_1(x), d_l = f_l(d_{l-1})      (bottom-up, deterministic)
                 q(z_L | x) from d_L,  q(z_l | x, z_{l+1}) from [d_l, t_l]  (top-down)

so the posterior and the prior of each layer share the top-down path t_l, and each layer's KL,
KL(q(z_l | x, z_>l) || p(z_l | z_>l)), is in closed form given the samples above it.

Latents are concatenated bottom layer first: z = [z_1, ..., z_L], (B, L * Z). `decode` uses
z_1, and `sample_latents` draws ancestrally from the prior.

The posterior q(z|x) = q(z_L|x) prod_l q(z_l|x, z_{l+1}) couples the layers, and below the
top its marginals are not Gaussian, so:
- `posterior_sample` draws ancestrally through the top-down path: z_L ~ q(z_L|x), then
  z_l ~ q(z_l|x, z_{l+1}) down to z_1; the draws have the spread of the full posterior.
- `posterior_moments` (and so `posterior_mean`, `posterior_std`, `reconstruct`) are Monte Carlo
  over SUMMARY_SAMPLES ancestral draws of the layers above each one, Rao-Blackwellized: layer l
  has mean E[mu_l] and variance E[sigma_l^2] + Var[mu_l], the expectations over z_{l+1} ~ q
  (the law of total variance), which is exact for the top layer. The draws use fixed
  quasi-random noise (vaekit.models.summary_noise), the same for every example: a summary is
  deterministic and does not depend on the batch it is computed in.
- `encode` returns the diagonal Gaussian with those moments: a summary of q(z|x), not q
  itself (its log density is not the posterior's). Nothing outside the model reads it; the
  objectives and bounds use `terms`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.networks import GaussianHead, MLPDecoder
from vaekit.models.priors import Density, StandardNormal
from vaekit.models.summary_noise import summary_noise
from vaekit.models.vae import VAE, Terms

SUMMARY_SAMPLES = 64  # ancestral draws behind the posterior's mean and standard deviation


def _mlp(width_in: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())


class HierarchicalVAE(VAE):
    decodes_bottom_layer = True

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int,
        layers: int,
        hidden_dims: tuple[int, ...],
        likelihood: nn.Module,
    ) -> None:
        nn.Module.__init__(self)
        if layers < 2:
            raise ValueError(f"a hierarchical VAE needs at least 2 layers, got {layers}")
        width = hidden_dims[0]
        self.z = latent_dim
        self.layers = layers
        self.num_classes = 0
        self.latent_dim = latent_dim * layers
        self.layer_sizes = (latent_dim,) * layers
        self.likelihood = likelihood
        self.prior = StandardNormal(latent_dim)  # the top layer's prior
        self.bottom_up = nn.ModuleList(
            [nn.Sequential(nn.Flatten(), _mlp(math.prod(shape), width))]
            + [_mlp(width, width) for _ in range(layers - 1)]
        )
        self.top_head = GaussianHead(width, latent_dim)
        # One top-down block per layer below the top: g_l, its prior head and posterior head.
        self.top_down = nn.ModuleList([_mlp(latent_dim, width) for _ in range(layers - 1)])
        self.prior_heads = nn.ModuleList(
            [GaussianHead(width, latent_dim) for _ in range(layers - 1)]
        )
        self.posterior_heads = nn.ModuleList(
            [GaussianHead(2 * width, latent_dim) for _ in range(layers - 1)]
        )
        self.decoder = MLPDecoder(shape, latent_dim, hidden_dims, likelihood.params_per_channel)
        # Made once (not saved with the weights): the same noise on every device and call.
        self.register_buffer(
            "summary_noise", summary_noise(SUMMARY_SAMPLES, self.latent_dim), persistent=False
        )

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """d_1 .. d_L for x (B, C, H, W)."""
        out, h = [], x
        for block in self.bottom_up:
            h = block(h)
            out.append(h)
        return out

    def _top_down(
        self, feats: list[torch.Tensor], eps: torch.Tensor | None
    ) -> tuple[list[torch.Tensor], list[DiagonalGaussian], list[DiagonalGaussian]]:
        """Walk from the top: the sampled z_l (the mean where eps is None), q_l and p_l per
        layer, each list bottom first. feats: (M, W) rows; eps: (M, L * Z) or None."""
        zs, qs, ps = [], [], []
        q = self.top_head(feats[-1])
        p = self.prior(q.mean.shape[0])
        for level in range(self.layers - 1, -1, -1):
            if level < self.layers - 1:
                t = self.top_down[level](zs[-1])
                p = self.prior_heads[level](t)
                q = self.posterior_heads[level](torch.cat([feats[level], t], dim=1))
            noise = None if eps is None else eps[:, level * self.z : (level + 1) * self.z]
            zs.append(q.mean if noise is None else q.mean + q.std * noise)
            qs.append(q)
            ps.append(p)
        return zs[::-1], qs[::-1], ps[::-1]

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiagonalGaussian:
        """The diagonal Gaussian with the posterior's per-dimension mean and standard deviation
        (see `posterior_moments`), (B, L * Z): a summary of q(z|x), which couples the layers."""
        mean, std = self.posterior_moments(x)
        return DiagonalGaussian(mean, 2 * std.log())

    def _posterior_given_noise(
        self, x: torch.Tensor, eps: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Ancestral posterior samples (B, n, L * Z) from standard normal noise eps (B, n, L * Z):
        z_L = mu + sigma * eps_L under q(z_L|x), then each layer below given the one above."""
        b, n, dims = eps.shape
        feats = [f.repeat_interleave(n, dim=0) for f in self._features(x)]
        zs, _, _ = self._top_down(feats, eps.reshape(b * n, dims))
        return torch.cat(zs, dim=1).view(b, n, dims)

    def posterior_moments(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-dimension mean and standard deviation of q(z|x), (B, L * Z) each: Monte Carlo
        over SUMMARY_SAMPLES ancestral draws, Rao-Blackwellized per layer (module docstring)."""
        b, s = x.shape[0], SUMMARY_SAMPLES
        noise = self.summary_noise.to(x.dtype)
        feats = [f.repeat_interleave(s, dim=0) for f in self._features(x)]
        _, qs, _ = self._top_down(feats, noise.repeat(b, 1))
        mu = torch.cat([q.mean for q in qs], dim=1).view(b, s, -1)
        var = torch.cat([q.var for q in qs], dim=1).view(b, s, -1)
        return mu.mean(1), (var.mean(1) + mu.var(1, unbiased=False)).sqrt()

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        return self.likelihood(self.decoder(z[:, : self.z]))

    @property
    def has_kl_per_dim(self) -> bool:
        return True  # each layer's KL is in closed form given the samples above it

    def _path(self, feats: list[torch.Tensor], eps: torch.Tensor) -> tuple[list, list, list, Any]:
        """The posterior's draws, q and p per layer (bottom first) for noise eps (M, L * Z),
        and p(x|z) given them: here the decoder reads the bottom layer."""
        zs, qs, ps = self._top_down(feats, eps)
        return zs, qs, ps, self.decode(zs[0])

    def terms(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        y: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        pz: Density | None = None,
        densities: bool = True,  # computed all the same
    ) -> Terms:
        # pz is unused: each layer's prior depends on the samples above it.
        b, n, dims = eps.shape
        feats = [f.repeat_interleave(n, dim=0) for f in self._features(x)]
        zs, qs, ps, px = self._path(feats, eps.reshape(b * n, dims))
        scored = x if target is None else target
        log_px = px.log_prob(scored.repeat_interleave(n, dim=0)).view(b, n)
        log_qz = sum(q.log_prob(z) for q, z in zip(qs, zs, strict=True)).view(b, n)
        log_pz = sum(p.log_prob(z) for p, z in zip(ps, zs, strict=True)).view(b, n)
        kl_dims = torch.cat([q.kl_per_dim(p) for q, p in zip(qs, ps, strict=True)], dim=1)
        return Terms(log_px, log_pz, log_qz, kl_dims.view(b, n, dims))

    def sample_latents(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        device = self.prior._zero.device
        z = temperature * torch.randn(n, self.z, generator=generator, device=device)
        zs = [z]
        for level in range(self.layers - 2, -1, -1):
            p = self.prior_heads[level](self.top_down[level](zs[-1]))
            noise = torch.randn(n, self.z, generator=generator, device=device)
            zs.append(p.mean + temperature * p.std * noise)
        return torch.cat(zs[::-1], dim=1)
