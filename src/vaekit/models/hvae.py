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

Latents are concatenated bottom layer first: z = [z_1, ..., z_L], (B, L * Z). `encode` returns
the posterior along the mean path (each layer conditioned on the means above it), `decode` uses
z_1, and `sample_latents` draws ancestrally.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.networks import GaussianHead, MLPDecoder
from vaekit.models.priors import StandardNormal
from vaekit.models.vae import VAE, Terms


def _mlp(width_in: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())


class HierarchicalVAE(VAE):
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
        p = self.prior(len(q.mean))
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
        _, qs, _ = self._top_down(self._features(x), None)
        return DiagonalGaussian(
            torch.cat([q.mean for q in qs], dim=1), torch.cat([q.logvar for q in qs], dim=1)
        )

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        return self.likelihood(self.decoder(z[:, : self.z]))

    @property
    def has_kl_per_dim(self) -> bool:
        return True  # each layer's KL is in closed form given the samples above it

    def terms(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        y: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
    ) -> Terms:
        b, n, dims = eps.shape
        feats = [f.repeat_interleave(n, dim=0) for f in self._features(x)]
        zs, qs, ps = self._top_down(feats, eps.reshape(b * n, dims))
        scored = x if target is None else target
        log_px = self.decode(zs[0]).log_prob(scored.repeat_interleave(n, dim=0)).view(b, n)
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
