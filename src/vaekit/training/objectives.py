"""Training objectives beside the -ELBO (--objective): each adds a penalty per example to what
the optimizer minimizes, while the metrics stay the plain -ELBO (as --beta leaves them).

- tcvae, beta-TCVAE (Chen et al. 2018): rec + KL + (B - 1) TC, TC = KL(q(z) || prod_d q(z_d))
  the total correlation of the aggregate posterior, estimated on each batch (`total_correlation`);
- factorvae, FactorVAE (Kim & Mnih 2018): rec + KL + gamma TC, TC estimated by a discriminator
  that tells z ~ q(z) from z with each dimension permuted across the batch (prod_d q(z_d)),
  trained beside the model with its own optimizer (`Discriminated`);
- infovae, InfoVAE / MMD-VAE (Zhao et al. 2017): rec + beta KL + lambda MMD(q(z), p(z)), the
  maximum mean discrepancy between the batch's z and as many draws of the prior (`mmd`).

Each is declared once in the registry vaekit.components.OBJECTIVES, whose builders are the
functions `elbo`, `tcvae`, `factorvae` and `infovae` here: builder(model, config) -> a
TrainingObjective, or None for the plain loss. The training loop hands the objective's
`penalty` to VAE.loss (through vaekit.models.vae.Objective), calls `after_step` after each
optimizer step, and the checkpoint holds its `state` (the discriminator and its optimizer).

The batch-level estimates (q(z) from the batch, the MMD, the discriminator's training) use
the rows of the batch a process holds: under DistributedDataParallel each process estimates
on its own part of the batch (their mean is what the gradient averages), and the
discriminator's gradients are averaged over the processes so that every copy stays the same.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from vaekit.errors import VaekitError
from vaekit.models.vae import VAE, Terms
from vaekit.training.distributed import Group

# The discriminator's hidden widths: sized for a CPU (Kim & Mnih 2018 use 6 layers of 1000).
CRITIC_WIDTHS = (256, 256, 256)
# Adam's betas for the discriminator, as Kim & Mnih 2018.
CRITIC_BETAS = (0.5, 0.9)
_LOG_2PI = math.log(2 * math.pi)


class TrainingObjective:
    """What an objective adds to the plain loss; this base adds nothing and keeps no state.

    `penalty(terms, generator)`: the extra loss per example (B,), from the step's terms
    (their draws z and q(z|x)) and the step's random generator. `prepare(dataset_size)`:
    told the size of the training split before training. `after_step(generator, group,
    stepped)`: after each optimizer step (`stepped`: whether the model's step was taken).
    `state()` / `load_state(...)`: what a checkpoint holds, None for no state.
    `part_of_kl`: the penalty weighs a part of the KL (the total correlation, one term of its
    decomposition, Hoffman & Johnson 2016; Chen et al. 2018), so --kl-warmup ramps it with
    the KL; without, it would pull on the latents at full weight while the KL that holds
    them to the prior is still near 0."""

    name = "elbo"
    part_of_kl = False

    def penalty(self, terms: Terms, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.zeros_like(terms.log_px[:, 0])

    def prepare(self, dataset_size: int) -> None:
        """Called by the loop with the number of training examples."""

    def after_step(self, generator: torch.Generator | None, group: Group, stepped: bool) -> None:
        """Called by the loop after each optimizer step."""

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The tensors and the JSON-ready values that a checkpoint keeps; None: nothing."""
        return None

    def load_state(self, tensors: dict[str, torch.Tensor], meta: Any, where: str) -> None:
        """Restore what `state` gave (checked first: a one-line VaekitError naming `where`)."""
        if tensors or meta is not None:
            raise VaekitError(f"{where}: holds an objective's state that --objective "
                              f"{self.name} does not keep")  # fmt: skip

    def snapshot(self) -> Any:
        """A copy of `state` in CPU memory, for a rollback (vaekit.training.recovery)."""
        held = self.state()
        if held is None:
            return None
        tensors, meta = held
        return {k: v.detach().cpu().clone() for k, v in tensors.items()}, copy.deepcopy(meta)

    def restore(self, snapshot: Any) -> None:
        """Back to a `snapshot`."""
        if snapshot is not None:
            self.load_state(*snapshot, where="rollback")


def _batch_estimate(config: Any, name: str) -> None:
    """Refuse a batch of one: the objective's estimate compares the examples of a batch
    (q(z) from the batch, dimensions permuted across it, an MMD between samples)."""
    if getattr(config, "batch_size", 2) < 2:
        raise VaekitError(f"--objective {name} estimates across the examples of a batch: "
                          "--batch-size must be at least 2")  # fmt: skip


def _one_layer_of_latents(model: VAE, name: str) -> None:
    """Refuse a model whose terms do not give the draws z and q(z|x): a hierarchical one, or
    one whose posterior is a point (vqvae, whose KL is a constant: no TC or MMD to weigh)."""
    if getattr(model, "kl_is_constant", False):
        raise VaekitError(
            f"--objective {name} needs draws of a Gaussian posterior; this model's posterior "
            "is a point over codes (its KL a constant): use --objective elbo"
        )
    if type(model).terms is not VAE.terms:
        raise VaekitError(
            f"--objective {name} takes a model with one layer of latents, not a hierarchical "
            "one (its q(z) has no single z to score)"
        )


def elbo(model: VAE, config: Any) -> TrainingObjective | None:
    """The plain loss: nothing added."""
    return None


# beta-TCVAE ------------------------------------------------------------------------------


def total_correlation(
    z: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    dataset_size: int,
    estimator: str = "mws",
) -> torch.Tensor:
    """Each example's estimate of log q(z_i) - sum_d log q(z_id) (B,), whose mean is the total
    correlation of the aggregate posterior q(z) = (1/N) sum_n q(z|x_n), estimated from a batch
    of B draws z (B, Z), each from its own q(z|x_i) = N(mean_i, exp(logvar_i)) (Chen et al.
    2018, section 3 and appendix C).

    q(z_i) = sum_j w_ij q(z_i|x_j), and each marginal q(z_id) alike, with
    - mws (minibatch-weighted sampling): w_ij = 1 / B, the batch as a sample of the data;
    - mss (minibatch-stratified sampling): w_ii = 1 / N for the example's own posterior, which
      z_i was drawn from, and (N - 1) / (N (B - 1)) for each other, standing for the other
      N - 1 examples of the data (N: `dataset_size`).
    Chen et al. print mws with weights 1 / (N B): that adds -log N to every log density, a
    constant (Z - 1) log N in the TC, which moves no gradient but makes the value no TC;
    the weights here sum to 1, so the estimate is of the TC itself (in nats)."""
    b = len(z)
    if b < 2:
        return torch.zeros(b, device=z.device, dtype=z.dtype)
    z, mean, logvar = z.float(), mean.float(), logvar.float()
    # log q(z_id | x_j) for every pair: (B, B, Z), i the draw, j the posterior.
    diff = z[:, None] - mean[None]
    log_q = -0.5 * (_LOG_2PI + logvar[None] + diff**2 * torch.exp(-logvar[None]))
    if estimator == "mws":
        log_w = torch.full((b, b), -math.log(b), device=z.device)
    elif estimator == "mss":
        n = max(int(dataset_size), b)
        log_w = torch.full((b, b), math.log((n - 1) / (n * (b - 1))), device=z.device)
        log_w.fill_diagonal_(-math.log(n))
    else:
        raise VaekitError(f"unknown total correlation estimator {estimator!r}: mws or mss")
    log_qz = torch.logsumexp(log_w + log_q.sum(2), dim=1)
    log_marginals = torch.logsumexp(log_w[:, :, None] + log_q, dim=1).sum(1)
    return log_qz - log_marginals


class TotalCorrelation(TrainingObjective):
    """beta-TCVAE: the penalty (weight - 1) TC_i, so that the loss is rec + KL + weight TC."""

    name = "tcvae"
    part_of_kl = True

    def __init__(self, weight: float, estimator: str) -> None:
        self.weight, self.estimator = weight, estimator
        self.dataset_size = 0

    def prepare(self, dataset_size: int) -> None:
        self.dataset_size = dataset_size

    def penalty(self, terms: Terms, generator: torch.Generator | None = None) -> torch.Tensor:
        qz = terms.qz
        if terms.z is None or qz is None:
            raise VaekitError("--objective tcvae needs the model's draws z and q(z|x)")
        tc = total_correlation(terms.z, qz.mean, qz.logvar, self.dataset_size, self.estimator)
        return (self.weight - 1) * tc.to(terms.log_px.dtype)


def tcvae(model: VAE, config: Any) -> TrainingObjective:
    """beta-TCVAE with --tc-weight and --tc-estimator."""
    _one_layer_of_latents(model, "tcvae")
    _batch_estimate(config, "tcvae")
    if model.flow is not None:
        raise VaekitError(
            "--objective tcvae needs q(z|x) in closed form at any z, which a flow posterior "
            "(--flow-steps) does not have: use --objective factorvae or infovae"
        )
    return TotalCorrelation(config.tc_weight, config.tc_estimator)


# FactorVAE -------------------------------------------------------------------------------


def critic_network(latent_dim: int, widths: tuple[int, ...] = CRITIC_WIDTHS) -> nn.Sequential:
    """The discriminator: an MLP on z (N, Z) with LeakyReLU(0.2) (as Kim & Mnih 2018) to two
    logits (N, 2), the first for "a draw of q(z)", the second for "dimensions permuted"."""
    layers: list[nn.Module] = []
    width = latent_dim
    for hidden in widths:
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z (B, Z) with each dimension shuffled across the batch by its own permutation: draws of
    prod_d q(z_d) made from draws of q(z) (Kim & Mnih 2018, algorithm 1)."""
    noise = torch.rand(z.shape, generator=generator, device=z.device)
    return torch.gather(z, 0, noise.argsort(dim=0))


def discriminator_loss(critic: nn.Module, z: torch.Tensor, permuted: torch.Tensor) -> torch.Tensor:
    """The discriminator's cross-entropy: z labelled 0 (of q(z)), the permuted ones 1."""
    real, fake = critic(z), critic(permuted)
    zeros = torch.zeros(len(z), dtype=torch.long, device=z.device)
    ones = torch.ones(len(permuted), dtype=torch.long, device=z.device)
    return 0.5 * (F.cross_entropy(real, zeros) + F.cross_entropy(fake, ones))


class Discriminated(TrainingObjective):
    """FactorVAE: the penalty gamma (logit_real - logit_permuted)(z_i), the discriminator's
    estimate of log q(z_i) / prod_d q(z_id), whose mean estimates the TC.

    The penalty's gradient reaches z (the encoder) but not the discriminator: it is computed
    with torch.func.functional_call on detached copies of the discriminator's parameters, so
    one backward pass of the model's loss leaves the discriminator's gradients untouched (a
    second backward, or freezing its parameters around the step, would do the same at more
    cost or with state to put back). After the model's step, `after_step` trains the
    discriminator on the step's z (detached) against the same z permuted dimension-wise, with
    its own Adam (--critic-lr, betas (0.5, 0.9))."""

    name = "factorvae"
    part_of_kl = True

    def __init__(self, critic: nn.Module, weight: float, lr: float) -> None:
        self.critic, self.weight = critic, weight
        self.optimizer = torch.optim.Adam(critic.parameters(), lr=lr, betas=CRITIC_BETAS)
        self.last_z: torch.Tensor | None = None

    def penalty(self, terms: Terms, generator: torch.Generator | None = None) -> torch.Tensor:
        if terms.z is None:
            raise VaekitError("--objective factorvae needs the model's draws z")
        z = terms.z
        self.last_z = z.detach()
        frozen = {k: v.detach() for k, v in self.critic.named_parameters()}
        logits = functional_call(self.critic, frozen, (z.float(),))
        return self.weight * (logits[:, 0] - logits[:, 1]).to(terms.log_px.dtype)

    def after_step(self, generator: torch.Generator | None, group: Group, stepped: bool) -> None:
        """One step of the discriminator on the last z (none where the model's step was
        skipped: its z may be NaN)."""
        z, self.last_z = self.last_z, None
        if z is None or not stepped:
            return
        z = z.float()
        loss = discriminator_loss(self.critic, z, permute_dims(z, generator))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in self.critic.parameters() if p.grad is not None]
        if group.active:  # one average over the processes keeps every copy the same
            for grad in grads:
                group.sum(grad).div_(group.world)
        if all(bool(g.isfinite().all()) for g in grads):
            self.optimizer.step()

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"critic.{k}": v for k, v in self.critic.state_dict().items()}
        held = self.optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, values in held["state"].items():
            for key, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"adam.{index}.{key}"] = value
                else:
                    scalars.setdefault(str(index), {})[key] = value
        meta = {"objective": self.name, "param_groups": held["param_groups"], "scalars": scalars}
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: Any, where: str) -> None:
        own = self.critic.state_dict()
        found = {k[len("critic.") :]: v for k, v in tensors.items() if k.startswith("critic.")}
        if not isinstance(meta, dict) or meta.get("objective") != self.name or not found:
            raise VaekitError(f"{where}: no discriminator state (--objective factorvae)")
        if set(found) != set(own) or any(
            v.shape != own[k].shape or v.dtype != own[k].dtype for k, v in found.items()
        ):
            raise VaekitError(f"{where}: the discriminator's state does not fit")
        params = list(self.critic.parameters())
        state: dict[int, dict[str, Any]] = {}
        rest = [(k.split("."), v) for k, v in tensors.items() if k.startswith("adam.")]
        scalars = meta.get("scalars")
        if not isinstance(scalars, dict) or not all(isinstance(v, dict) for v in scalars.values()):
            raise VaekitError(f"{where}: the discriminator's optimizer state is damaged")
        rest += [(["adam", i, k], v) for i, values in scalars.items() for k, v in values.items()]
        for parts, value in rest:
            index = int(parts[1]) if len(parts) == 3 and str(parts[1]).isdigit() else -1
            shaped = isinstance(value, torch.Tensor) and value.ndim > 0
            if not 0 <= index < len(params) or (shaped and value.shape != params[index].shape):
                raise VaekitError(f"{where}: the discriminator's optimizer state does not fit")
            state.setdefault(index, {})[parts[2]] = value
        device = params[0].device
        self.critic.load_state_dict({k: v.to(device) for k, v in found.items()})
        try:
            self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as err:
            raise VaekitError(f"{where}: the discriminator's optimizer state does not fit "
                              f"({err})") from None  # fmt: skip
        self.last_z = None


def factorvae(model: VAE, config: Any) -> TrainingObjective:
    """FactorVAE with --factor-weight and --critic-lr; the discriminator's initial weights
    come from --seed alone (the global random state is left as it was)."""
    _one_layer_of_latents(model, "factorvae")
    _batch_estimate(config, "factorvae")
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        critic = critic_network(model.latent_dim).to(device)
    return Discriminated(critic, config.factor_weight, config.critic_lr)


# InfoVAE / MMD-VAE -----------------------------------------------------------------------


def kernel(x: torch.Tensor, y: torch.Tensor, name: str, scale: float) -> torch.Tensor:
    """k(x_i, y_j) for x (N, Z), y (M, Z): (N, M). rbf: exp(-|x - y|^2 / scale); imq, the
    inverse multiquadratic: scale / (scale + |x - y|^2)."""
    squared = torch.cdist(x, y).square()
    if name == "rbf":
        return torch.exp(-squared / scale)
    if name == "imq":
        return scale / (scale + squared)
    raise VaekitError(f"unknown MMD kernel {name!r}: rbf or imq")


def mmd(x: torch.Tensor, y: torch.Tensor, name: str = "rbf", scale: float = 0.0) -> torch.Tensor:
    """The squared maximum mean discrepancy between the samples x (N, Z) and y (M, Z), a
    scalar: mean k(x, x') + mean k(y, y') - 2 mean k(x, y) over all pairs (the biased
    estimate, as Zhao et al. 2017 use: never negative, and 0 for two equal samples). scale 0
    is 2 Z, the 2 Z sigma^2 of Tolstikhin et al. 2018 for a prior of unit variance."""
    x, y = x.float(), y.float()
    scale = scale or 2.0 * x.shape[1]
    xx, yy, xy = kernel(x, x, name, scale), kernel(y, y, name, scale), kernel(x, y, name, scale)
    return xx.mean() + yy.mean() - 2 * xy.mean()


class MaximumMeanDiscrepancy(TrainingObjective):
    """InfoVAE: the penalty lambda MMD(z, z'), z the batch's draws of q(z), z' as many draws
    of the prior (from the step's generator, so a resumed run repeats them), the same for
    every example: the batch mean of the loss gains lambda MMD."""

    name = "infovae"

    def __init__(self, model: VAE, weight: float, kernel_name: str, scale: float) -> None:
        self.model, self.weight, self.kernel, self.scale = model, weight, kernel_name, scale

    def penalty(self, terms: Terms, generator: torch.Generator | None = None) -> torch.Tensor:
        if terms.z is None:
            raise VaekitError("--objective infovae needs the model's draws z")
        z = terms.z
        prior = self.model.sample_latents(len(z), generator)
        value = mmd(z, prior.to(z.dtype), self.kernel, self.scale)
        return (self.weight * value).to(terms.log_px.dtype).expand(len(terms.log_px))


def infovae(model: VAE, config: Any) -> TrainingObjective:
    """InfoVAE / MMD-VAE with --mmd-weight, --mmd-kernel and --mmd-scale (and --beta)."""
    _one_layer_of_latents(model, "infovae")
    _batch_estimate(config, "infovae")
    return MaximumMeanDiscrepancy(model, config.mmd_weight, config.mmd_kernel, config.mmd_scale)
