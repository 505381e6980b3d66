"""The VQ-VAE: discrete latents from a codebook (van den Oord et al. 2017, "Neural Discrete
Representation Learning").

The encoder maps x (B, C, H, W) to a map of code vectors z_e (B, D, h, w), D = --latent-dim
(the shared option is the code dimension: a VQ-VAE has no other latent width; h x w is the
image halved once per --channels stage). Each position is
replaced by its nearest code of the codebook e (K, D), K = --codebook-size: z_q = e_k,
k = argmin_j ||z_e - e_j||. The decoder reads z_q; the gradient skips the quantization
(straight-through: z_e + sg(z_q - z_e)), so the encoder learns from the reconstruction.

Training minimizes -log p(x|z_q) + beta ||z_e - sg(z_q)||^2 (the commitment loss, summed over
the map, beta = --commitment). The codebook is no parameter: it follows the encoder's outputs by
exponential moving averages (the paper's appendix; decay --codebook-decay), each code the
average of the vectors assigned to it, with the counts Laplace-smoothed so that an unused code
is never divided by zero. A code no vector chose for RESTART_AFTER training steps in a row is
restarted at a random encoder output of the batch (dead-code restarts, as in Dhariwal et al.
2020, "Jukebox"), so that the codebook stays in use; the first training update starts every
code that way, at the encoder's first outputs.

The figures vaekit reports, per example in nats. Under the uniform prior over codes that the
first stage assumes, q(z|x) is one code per position, KL(q || p) = h * w * log K, a constant,
and loss = rec + kl = -log p(x|z_q) + h w log K is an upper bound on -log p(x) (the paper's
section 3.2). After `vaekit fit-prior`, a PixelCNN over the code maps (vaekit.models.code_prior)
is the prior, and -log p(x) <= -log p(x|z_q) - log p(z_q) (`own_bound`). Sampling draws code maps
from it (`sample_latents`); `vaekit sample` refuses a model without it (`sampling_refusal`),
while the Python API and the run's report draw from the uniform prior until there is one.

The posterior the rest of vaekit asks for is deterministic: z is z_e flattened, (B, D * h * w),
its standard deviation 0; decoding z quantizes it first, so a point between two encodings
(interpolate) decodes through the codes nearest to it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.networks import MEMORY_FORMAT, _blocks, _conv, _halved, up_stages
from vaekit.models.vae import VAE, LossOutput, Objective, Terms

RESTART_AFTER = 100  # training steps unused before a code is restarted
LAPLACE = 1e-5  # the counts' additive smoothing (van den Oord et al. 2017, appendix)
PLAIN = Objective()  # the loss's default objective: it reads none of its knobs
SAMPLING_NEEDS = "vaekit fit-prior {rundir} trains the code prior sampling needs"


def refusal(config: Any) -> str | None:
    """Why a ModelConfig of the vqvae family cannot be built (its Family.checker), or None:
    its prior is over its codes, so it takes none of the options that change a Gaussian
    prior or posterior, nor a PixelCNN decoder or a user's modules."""
    taken = [
        ("--prior", config.prior != "standard-normal"),
        ("--flow-steps", bool(config.flow_steps)),
        ("--autoregressive", bool(config.autoregressive)),
        ("--conditional", bool(config.num_classes)),
        ("custom modules", bool(config.custom)),
    ]
    given = [name for name, on in taken if on]
    if not given:
        return None
    return (
        f"{given[0]}: vqvae's prior is over its codes (uniform, then `vaekit fit-prior`'s "
        "PixelCNN): it takes no --prior, --flow-steps, --autoregressive, --conditional or "
        "custom modules"
    )


class VQEncoder(nn.Module):
    """x (B, C, H, W) -> z_e (B, D, h, w): per entry of `channels` a stride-2 3x3 convolution
    and `depth` residual blocks (vaekit.models.networks.ResidualBlock), then SiLU and a 1x1
    convolution to the code dimension."""

    def __init__(
        self, shape: tuple[int, int, int], code_dim: int, channels: tuple[int, ...], depth: int
    ) -> None:
        super().__init__()
        width = shape[0]
        layers: list[nn.Module] = []
        for out in channels:
            layers += [_conv(width, out, stride=2), *_blocks(out, depth)]
            layers.append(nn.SiLU())
            width = out
        layers.append(nn.Conv2d(width, code_dim, 1))
        self.body = nn.Sequential(*layers)
        self.to(memory_format=MEMORY_FORMAT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.contiguous(memory_format=MEMORY_FORMAT))


class VQDecoder(nn.Module):
    """The mirror of VQEncoder: z_q (B, D, h, w) -> a 3x3 convolution to channels[-1], then per
    entry of `channels`, last first, `depth` residual blocks, SiLU and a stride-2 transposed
    convolution (sizes retracing the encoder's exactly), then SiLU and a 3x3 convolution to
    the likelihood's parameters (B, C * P, H, W)."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        code_dim: int,
        channels: tuple[int, ...],
        depth: int,
        params: int,
    ) -> None:
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = [nn.Conv2d(code_dim, channels[-1], 3, padding=1)]
        layers += up_stages((h, w), channels, depth)
        layers += [nn.SiLU(), nn.Conv2d(channels[0], c * params, 3, padding=1)]
        self.body = nn.Sequential(*layers)
        self.to(memory_format=MEMORY_FORMAT)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z.contiguous(memory_format=MEMORY_FORMAT))


class Codebook(nn.Module):
    """K codes of D numbers, kept by exponential moving averages, not by gradients.

    Buffers (saved with the weights, so that a resumed run goes on exactly): `codes` (K, D);
    `count` (K,) and `total` (K, D), the moving averages of how many vectors each code was
    assigned and of their sum; `idle` (K,), the training steps since each was last assigned.
    """

    def __init__(self, size: int, dim: int, decay: float) -> None:
        super().__init__()
        self.size, self.dim, self.decay = size, dim, decay
        self.restart_after = RESTART_AFTER
        codes = torch.randn(size, dim) / math.sqrt(dim)
        self.register_buffer("codes", codes)
        # As if each code had been assigned one vector, itself: the first update is then a
        # weighted average of the code and its batch mean, never a division by a tiny count.
        self.register_buffer("count", torch.ones(size))
        self.register_buffer("total", codes.clone())
        self.register_buffer("idle", torch.zeros(size, dtype=torch.long))
        # 0 until the first training update, which starts every code at an encoder output
        # of its batch: codes drawn before the encoder has outputs would mostly go unused.
        self.register_buffer("started", torch.zeros((), dtype=torch.long))

    def nearest(self, vectors: torch.Tensor) -> torch.Tensor:
        """The index of each row's nearest code (squared Euclidean distance): (N,) from
        vectors (N, D)."""
        codes = self.codes.float()
        v = vectors.float()
        with torch.autocast(v.device.type, enabled=False):  # float32 distances, even in bf16
            distance = (v * v).sum(1, keepdim=True) - 2 * v @ codes.t() + (codes * codes).sum(1)
        return distance.argmin(1)

    @torch.no_grad()
    def update(
        self,
        vectors: torch.Tensor,
        chosen: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> None:
        """One training step's update from the encoder's vectors (N, D) and their codes (N,):
        count <- d count + (1 - d) n_k, total <- d total + (1 - d) sum of the vectors of code
        k, code k <- total_k / n'_k with n' the counts Laplace-smoothed; then codes idle for
        `restart_after` steps are restarted at vectors drawn from this batch (`generator`),
        and so is every code at the first update.
        Across processes (torch.distributed) the batch counts and sums are summed first."""
        v = vectors.float()
        onehot = F.one_hot(chosen, self.size).to(v.dtype)
        n = onehot.sum(0)
        with torch.autocast(v.device.type, enabled=False):  # float32 sums, even in bf16
            sums = onehot.t() @ v
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(n)
            dist.all_reduce(sums)
        d = self.decay
        self.count.mul_(d).add_(n, alpha=1 - d)
        self.total.mul_(d).add_(sums, alpha=1 - d)
        whole = self.count.sum()
        smoothed = (self.count + LAPLACE) / (whole + self.size * LAPLACE) * whole
        self.codes.copy_(self.total / smoothed[:, None])
        self.idle.add_(1).masked_fill_(n > 0, 0)
        if not self.started:
            self.idle.fill_(self.restart_after)
            self.started.fill_(1)
        self.restart(v, generator)

    def restart(self, vectors: torch.Tensor, generator: torch.Generator | None) -> None:
        """Codes idle for `restart_after` steps or more each take a vector of the batch (N, D)
        drawn at random, with their moving averages set as if it had been assigned once."""
        dead = (self.idle >= self.restart_after).nonzero().flatten()
        if len(dead) == 0:
            return
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            vectors = _whole_batch(vectors)  # drawn from the batch as one process draws
        device = generator.device if generator is not None else vectors.device
        rows = torch.randint(len(vectors), (len(dead),), generator=generator, device=device)
        picked = vectors[rows.to(vectors.device)]
        self.codes[dead] = picked
        self.total[dead] = picked
        self.count[dead] = 1.0
        self.idle[dead] = 0


def _whole_batch(part: torch.Tensor) -> torch.Tensor:
    """Every process's rows (N_i, D), in process order: the whole batch's, as one process
    holds them (each process has a contiguous part; parts differ in length by at most one)."""
    world = dist.get_world_size()
    size = torch.tensor([len(part)], device=part.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    lengths = [int(s.item()) for s in sizes]
    padded = part.new_zeros((max(lengths), *part.shape[1:]))
    padded[: len(part)] = part
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, lengths, strict=True)])


class UniformCodes(nn.Module):
    """The first stage's prior: every code equally likely at every position. It has no
    Gaussian form (`gaussian` False: the apps that vary latents around N(0, I) leave it)."""

    gaussian = False

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim


class _Constant:
    """log p(z) of the uniform prior over code maps: the same for every z."""

    def __init__(self, value: float) -> None:
        self.value = value

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return torch.full((z.shape[0],), self.value, device=z.device, dtype=z.dtype)


class VQVAE(VAE):
    """See the module docstring. latent_dim is D * h * w: z flattened from (D, h, w)."""

    kl_is_constant = True  # training refuses the options that act on the KL (api.train)

    def __init__(
        self,
        shape: tuple[int, int, int],
        code_dim: int,
        channels: tuple[int, ...],
        depth: int,
        codebook_size: int,
        commitment: float,
        decay: float,
        likelihood: nn.Module,
    ) -> None:
        nn.Module.__init__(self)
        self.map_size = _halved(shape[1:], len(channels))[-1]  # type: ignore[arg-type]
        self.code_dim = code_dim
        self.commitment = commitment
        self.num_classes = 0
        self.latent_dim = code_dim * math.prod(self.map_size)
        self.layer_sizes = (self.latent_dim,)
        self.flow = None
        self.likelihood = likelihood
        self.encoder = VQEncoder(shape, code_dim, channels, depth)
        self.decoder = VQDecoder(shape, code_dim, channels, depth, likelihood.params_per_channel)
        self.codebook = Codebook(codebook_size, code_dim, decay)
        self.prior = UniformCodes(self.latent_dim)
        # The second stage (vaekit.models.code_prior.CodePrior), attached from the run
        # directory by `attach_run`; not part of the weights (set past nn.Module's
        # __setattr__, so that it is no submodule: model.safetensors never holds it).
        self.code_prior: Any = None

    # Code maps and their vectors.

    @property
    def positions(self) -> int:
        """h * w, the positions of a code map."""
        return math.prod(self.map_size)

    def encode_map(self, x: torch.Tensor) -> torch.Tensor:
        """z_e (B, D, h, w) for x (B, C, H, W)."""
        return self.encoder(x).float().contiguous()

    def codes_of(self, z_e: torch.Tensor) -> torch.Tensor:
        """The index of the nearest code at each position: (B, h, w) from z_e (B, D, h, w)."""
        b, d, h, w = z_e.shape
        return self.codebook.nearest(z_e.permute(0, 2, 3, 1).reshape(-1, d)).view(b, h, w)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """The code vectors of a map of indices (B, h, w): z_q (B, D, h, w)."""
        return self.codebook.codes[codes].permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def encode_codes(self, x: torch.Tensor) -> torch.Tensor:
        """The code map of x (B, C, H, W): indices (B, h, w), what the code prior models."""
        return self.codes_of(self.encode_map(x))

    def _map(self, z: torch.Tensor) -> torch.Tensor:
        """Flat latents (B, D * h * w) as maps (B, D, h, w)."""
        return z.reshape(z.shape[0], self.code_dim, *self.map_size)

    # What every family answers: the posterior is z_e itself.

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiagonalGaussian:
        """z_e flattened as a Gaussian of standard deviation 0 (log variance -inf): the
        posterior is a point."""
        mean = self.encode_map(x).flatten(1)
        return DiagonalGaussian(mean, torch.full_like(mean, -math.inf))

    def posterior_moments(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.encode_map(x).flatten(1)
        return mean, torch.zeros_like(mean)

    def posterior_sample(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        n: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """z_e flattened, n times (B, n, Z): the posterior is deterministic."""
        return self.encode_map(x).flatten(1)[:, None].expand(-1, n, -1).contiguous()

    def _posterior_given_noise(
        self, x: torch.Tensor, eps: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.posterior_sample(x, y, eps.shape[1])

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """p(x|z_q) for flat latents z (B, D * h * w), each position quantized first."""
        return self._decode_codes(self.codes_of(self._map(z.float())))

    def _decode_codes(self, codes: torch.Tensor):
        """p(x|z_q) for code maps (B, h, w) of indices."""
        return self.likelihood(self.decoder(self.lookup(codes)))

    @property
    def has_kl_per_dim(self) -> bool:
        return False  # the KL is per position of the map, not per latent dimension

    def prior_density(self) -> _Constant:
        """The uniform prior over code maps: log p(z) = -h w log K for every map."""
        return _Constant(-self.positions * math.log(self.codebook.size))

    def terms(
        self,
        x: torch.Tensor,
        eps: torch.Tensor,
        y: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        pz: Any = None,
        densities: bool = True,  # computed all the same
    ) -> Terms:
        """The terms under the uniform prior for any number n of draws (eps (B, n, Z), read
        only for n): the posterior is a point, so each draw is the same one, decoded once;
        log q = 0 (one code per position with probability 1)."""
        b, n, _ = eps.shape
        z_e = self.encode_map(x)
        px = self._decode_codes(self.codes_of(z_e))
        log_px = px.log_prob(x if target is None else target)[:, None].expand(b, n)
        zeros = torch.zeros_like(log_px)
        log_pz = zeros + self.prior_density().value
        return Terms(log_px, log_pz, zeros, None)

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
        """Per-example terms (B,): rec = -log p(x|z_q), kl = h w log K (the uniform prior's),
        loss = rec + kl (an upper bound on -log p(x)); objective = rec + the commitment loss.
        The KL is a constant, so the objective's knobs on it (beta, warm-up, importance
        samples) change nothing. In training mode with gradients on, the codebook takes this
        batch's moving-average update (`generator` draws any restarted codes)."""
        z_e = self.encode_map(x)
        codes = self.codes_of(z_e)
        z_q = self.lookup(codes)
        if self.training and torch.is_grad_enabled():
            flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, self.code_dim)
            self.codebook.update(flat, codes.flatten(), generator)
        straight = z_e + (z_q - z_e).detach()  # the decoder's gradient reaches the encoder
        px = self.likelihood(self.decoder(straight))
        rec = -px.log_prob(x if target is None else target)
        commit = (z_e - z_q.detach()).pow(2).flatten(1).sum(1)
        kl = torch.full_like(rec, -self.prior_density().value)
        return LossOutput(rec + kl, rec, kl, rec + self.commitment * commit)

    # Sampling and the second stage.

    def sample_latents(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """n code maps from the code prior (its logits divided by `temperature`) where one
        is attached, else from the uniform prior (`temperature` unused), as flat latents
        (n, D * h * w)."""
        device = self.codebook.codes.device
        if self.code_prior is not None:
            codes = self.code_prior.sample(n, generator, temperature)
        else:
            size = (n, *self.map_size)
            codes = torch.randint(self.codebook.size, size, generator=generator, device=device)
        return self.lookup(codes.to(device)).flatten(1)

    def sampling_refusal(self, rundir: str | Path) -> str | None:
        """Why `vaekit sample` refuses this model (no code prior fit yet), or None."""
        return SAMPLING_NEEDS.format(rundir=rundir) if self.code_prior is None else None

    def attach_run(self, rundir: str | Path) -> None:
        """Take the run directory's later stages: the code prior `vaekit fit-prior` saved
        there, where there is one (checked against these weights)."""
        from vaekit.models.code_prior import load_code_prior

        object.__setattr__(self, "code_prior", load_code_prior(rundir, self))

    @torch.no_grad()
    def own_bound(self, data: Any, batch_size: int) -> tuple[torch.Tensor, str, list[dict]]:
        """`vaekit eval`'s bound on -log p(x) for each example of `data` (an ImageSet), and
        its label and lines: -log p(x|z_q) - log p(z_q) under the code prior where one is
        attached, else -log p(x|z_q) + h w log K under the uniform prior."""
        was_training = self.training
        self.eval()
        device = self.codebook.codes.device
        rec, prior = [], []
        for start in range(0, len(data), batch_size):
            x = data.scaled(slice(start, start + batch_size)).to(device)
            codes = self.encode_codes(x)
            px = self._decode_codes(codes)
            rec.append(-px.log_prob(x).cpu())
            if self.code_prior is not None:
                prior.append(-self.code_prior.log_prob(codes).cpu())
        self.train(was_training)
        rec_nats = torch.cat(rec).double()
        if self.code_prior is not None:
            prior_nats = torch.cat(prior).double()
            label = "bound -log p(x|z_q) - log p(z_q), code prior"
            which = "the code prior's (a PixelCNN: vaekit fit-prior)"
        else:
            prior_nats = torch.full_like(rec_nats, -self.prior_density().value)
            label = "bound -log p(x|z_q) + hw log K, uniform prior"
            which = f"h w log K: {self.positions} positions, K={self.codebook.size}"
        lines = [
            {"name": "-log p(x|z_q)", "nats": float(rec_nats.mean()),
             "note": "the decoder's, at the quantized encoding"},
            {"name": "-log p(z_q)", "nats": float(prior_nats.mean()), "note": which},
        ]  # fmt: skip
        return rec_nats + prior_nats, label, lines
