"""Numbers a user reads, pinned against closed forms, torch.distributions or cases worked by
hand: the evaluation report's per-dimension figures and bits/dim, the active units, the
schedules, the weight average, and the distributions' log-densities and KLs."""

import math
from typing import ClassVar

import numpy as np
import pytest
import torch

from vaekit.data.batches import ImageSet
from vaekit.evaluation.evaluate import (
    DOMINATED_MIN_EXAMPLES,
    EvalConfig,
    active_units,
    dominated_warning,
    evaluate_vae,
)
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.importance import importance_terms

# --- evaluation -----------------------------------------------------------------------------


def _bytes_set(n: int = 12, seed: int = 0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    return ImageSet(
        torch.randint(0, 256, (n, 1, 4, 4), generator=g, dtype=torch.uint8), None, 255.0
    )


def _logistic_model(seed: int = 0):
    torch.manual_seed(seed)
    config = ModelConfig.create((1, 4, 4), family="mlp", latent_dim=2, likelihood="logistic")
    return build_vae(config).eval()


def test_per_dim_figures_and_bits_per_dim_are_each_their_own_bound_over_d_ln2():
    """On 8-bit data under a discretized likelihood: loss_per_dim = -ELBO / D, nll_per_dim =
    NLL / D, bits_per_dim elbo = -ELBO / (D ln 2) and iwae = NLL / (D ln 2), each from its own
    bound (the two differ: the ELBO lies above the IWAE bound)."""
    report, _ = evaluate_vae(_logistic_model(), _bytes_set(), EvalConfig(iw_samples=50))
    dims = report["dims"]
    assert dims == 16 and report["kind"] == "log-likelihood"
    loss, nll = report["elbo"]["loss"], report["iwae"]["nll"]
    assert loss > nll + 1e-3  # the two bounds are told apart below
    assert report["elbo"]["loss_per_dim"] == pytest.approx(loss / dims, rel=1e-9)
    assert report["iwae"]["nll_per_dim"] == pytest.approx(nll / dims, rel=1e-9)
    assert report["bits_per_dim"]["elbo"] == pytest.approx(loss / (dims * math.log(2)), rel=1e-9)
    assert report["bits_per_dim"]["iwae"] == pytest.approx(nll / (dims * math.log(2)), rel=1e-9)


def test_active_units_count_the_population_variance_strictly_above_the_threshold():
    """A unit is active where the variance of its posterior mean over the examples (the
    population variance, dividing by N) exceeds the threshold: [-a, -a, a, a] has variance
    a^2 = 0.0081 (inactive at 0.01) though its unbiased estimate 4a^2/3 = 0.0108 is above; a
    variance exactly at the threshold is not above it."""
    a = 0.09
    column = torch.tensor([-a, -a, a, a], dtype=torch.float64)
    means = torch.stack([column, 10 * column], 1)  # the second: variance 0.81, active
    assert active_units(means) == 1
    half = torch.tensor([[0.5], [-0.5]])  # variance exactly 0.25
    assert active_units(half, threshold=0.25) == 0
    assert active_units(half, threshold=0.2499) == 1


def test_kl_per_dim_sums_to_the_kl_when_the_samples_come_in_several_chunks():
    """The report's KL per dimension is averaged over all K samples, also when K is decoded in
    chunks smaller than K (the last one partial): its sum is the reported KL."""
    torch.manual_seed(0)
    model = build_vae(ModelConfig.create((1, 4, 4), family="mlp", latent_dim=3)).eval()
    g = torch.Generator().manual_seed(1)
    data = ImageSet(torch.randint(0, 2, (6, 1, 4, 4), generator=g, dtype=torch.uint8), None, 1.0)
    report, _ = evaluate_vae(model, data, EvalConfig(iw_samples=10, chunk=4))
    assert sum(report["latents"]["kl_per_dim"]) == pytest.approx(report["elbo"]["kl"], rel=1e-5)
    x = data.scaled(torch.arange(6))
    terms = importance_terms(model, x, torch.arange(6), 10, seed=0, chunk=3)
    torch.testing.assert_close(terms.kl_per_dim.sum(1), terms.kl, rtol=1e-5, atol=1e-6)


def test_a_hierarchys_kl_per_layer_is_the_sum_of_its_dimensions():
    """kl_layers (a hierarchical VAE's KL of each stochastic layer) sums the KL per dimension
    of that layer's units, so the layers add up to the whole KL."""
    torch.manual_seed(0)
    config = ModelConfig.create((1, 4, 4), family="hvae", latent_dim=2, hidden_dims=(8,))
    model = build_vae(config).eval()
    data = ImageSet(torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(0)), None, 1.0)
    report, _ = evaluate_vae(model, data, EvalConfig(iw_samples=3))
    lat = report["latents"]
    sizes = model.layer_sizes
    assert len(sizes) > 1 and len(lat["kl_layers"]) == len(sizes)
    per_dim = torch.tensor(lat["kl_per_dim"])
    expected = [float(t.sum()) for t in per_dim.split(sizes)]
    assert lat["kl_layers"] == pytest.approx(expected, rel=1e-5)
    assert sum(lat["kl_layers"]) == pytest.approx(report["elbo"]["kl"], rel=1e-4)


def test_a_familys_own_bound_terms_get_bits_per_dim_on_binary_data_too():
    """A family's own bound terms (a VQ-VAE's) carry bits/dim = nats / (D ln 2) wherever the
    likelihood models the data's discrete support: binary pixels under a Bernoulli as well as
    8-bit ones."""
    torch.manual_seed(0)
    model = build_vae(ModelConfig.create((1, 4, 4), family="mlp", latent_dim=2)).eval()
    n = 5

    def own_bound(data, batch_size):
        terms = [{"name": "rec", "nats": 7.0}, {"name": "code", "nats": 3.0}]
        return torch.full((len(data),), 10.0), "own bound", terms

    model.own_bound = own_bound
    g = torch.Generator().manual_seed(2)
    data = ImageSet(torch.randint(0, 2, (n, 1, 4, 4), generator=g, dtype=torch.uint8), None, 1.0)
    report, _ = evaluate_vae(model, data, EvalConfig(iw_samples=4))
    assert report["kind"] == "log-likelihood" and report["data_support"] == "binary"
    bits = [t["bits_per_dim"] for t in report["bound_terms"]]
    assert bits == pytest.approx([7.0 / (16 * math.log(2)), 3.0 / (16 * math.log(2))])


def test_the_dominated_warning_needs_exactly_the_minimum_number_of_examples():
    """With exactly DOMINATED_MIN_EXAMPLES finite values, one far outlier is named; with one
    fewer nothing is said."""
    values = torch.zeros(DOMINATED_MIN_EXAMPLES)
    values[3] = 1e6
    assert "example 3" in dominated_warning(values, "-ELBO")
    assert dominated_warning(values[1:], "-ELBO") is None


# --- schedules, free bits, the weight average --------------------------------------------


def _config(**kwargs):
    from vaekit.training.loop import TrainConfig

    return TrainConfig(**kwargs)


def test_cosine_stays_at_zero_past_the_last_step():
    """The cosine schedule anneals lr to 0 at total_steps and stays there for any later step
    (lr (1 + cos(pi min(t / T, 1))) / 2), rather than rising again along the cosine; with
    total_steps 0 it gives lr."""
    from vaekit.training.schedules import cosine

    config = _config(lr=0.1, lr_schedule="cosine")
    assert cosine(config, [], 10, 10) == pytest.approx(0.0, abs=1e-12)
    assert cosine(config, [], 15, 10) == pytest.approx(0.0, abs=1e-12)
    assert cosine(config, [], 20, 10) == pytest.approx(0.0, abs=1e-12)
    assert cosine(config, [], 3, 12) == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))
    assert cosine(config, [], 0, 0) == pytest.approx(0.1)  # a run of no steps: no error


def test_plateau_counts_an_equal_loss_as_no_improvement_and_restarts_its_wait():
    """plateau halves lr after PLATEAU_EPOCHS (2) epochs without a strictly lower loss (an
    equal loss is no better, nor a NaN one), then waits 2 epochs afresh before halving
    again."""
    from vaekit.training.schedules import plateau

    config = _config(lr=0.1, lr_schedule="plateau")

    def history(*losses):
        return [{"val": {"loss": v}, "train": {"loss": v}} for v in losses]

    assert plateau(config, history(5.0, 5.0), 0, 10) == 0.1
    assert plateau(config, history(5.0, 5.0, 5.0), 0, 10) == 0.05
    assert plateau(config, history(5.0, 6.0, 6.0, 6.0), 0, 10) == 0.05
    assert plateau(config, history(5.0, 6.0, 6.0, 6.0, 6.0), 0, 10) == 0.025
    # a first epoch without a finite loss is one epoch without improvement, not two
    assert plateau(config, history(math.nan), 0, 10) == 0.1
    assert plateau(config, history(math.nan, math.nan), 0, 10) == 0.05


def test_plateau_reads_the_validation_loss_and_the_training_loss_only_without_one():
    """plateau follows the validation loss where an epoch has one (a training loss still
    falling does not keep the rate), and the training loss where it has none."""
    from vaekit.training.schedules import plateau

    config = _config(lr=0.1, lr_schedule="plateau")
    stalled = [{"val": {"loss": 4.0}, "train": {"loss": t}} for t in (5.0, 4.0, 3.0)]
    assert plateau(config, stalled, 0, 10) == 0.05
    falling = [{"val": None, "train": {"loss": t}} for t in (5.0, 4.0, 3.0)]
    assert plateau(config, falling, 0, 10) == 0.1


def test_the_kl_weight_is_beta_times_the_warmup_fraction():
    """kl_weight = beta * min(1, (step + 1) / kl_warmup): beta scales the whole ramp, and
    without a warm-up it is beta from the first step."""
    from vaekit.training.schedules import kl_weight

    assert kl_weight(_config(beta=4.0, kl_warmup=10), 4) == pytest.approx(2.0)
    assert kl_weight(_config(beta=4.0, kl_warmup=10), 50) == pytest.approx(4.0)
    assert kl_weight(_config(beta=0.5, kl_warmup=0), 0) == pytest.approx(0.5)


def _mlp_and_batch(latent_dim: int = 4):
    torch.manual_seed(0)
    config = ModelConfig.create((1, 4, 4), family="mlp", latent_dim=latent_dim, hidden_dims=(8,))
    model = build_vae(config)
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 2, (6, 1, 4, 4), generator=g).float()
    eps = torch.randn(6, 1, latent_dim, generator=g)
    return model, x, eps


def test_beta_weights_the_kl_in_the_minimized_loss_but_not_the_reported_elbo():
    """With Objective(beta=3) the minimized loss is rec + 3 KL per example, while the
    reported loss stays the -ELBO rec + KL."""
    from vaekit.models.vae import Objective

    model, x, eps = _mlp_and_batch()
    out = model.loss(x, objective=Objective(beta=3.0), eps=eps)
    torch.testing.assert_close(out.objective, out.rec + 3.0 * out.kl)
    torch.testing.assert_close(out.loss, out.rec + out.kl)


def test_free_bits_floor_each_dimensions_batch_mean_kl():
    """Free bits: a dimension whose batch-MEAN KL is under the floor counts as the floor in
    every example's minimized loss; the others keep their own KL. The floor is put between
    the dimensions' batch means, so both cases occur (and the batch sum would decide
    otherwise)."""
    from vaekit.models.vae import Objective

    model, x, eps = _mlp_and_batch()
    with torch.no_grad():
        base = model.loss(x, eps=eps)
    mean = base.kl_dims.mean(0)
    floor = float(mean.sort().values[1:3].mean())  # two dims below, two above
    below = mean < floor
    assert 0 < int(below.sum()) < len(mean)
    assert not bool((base.kl_dims.sum(0) < floor).any())  # the sum: none below
    with torch.no_grad():
        out = model.loss(x, objective=Objective(free_bits=floor), eps=eps)
    expected = base.rec + torch.where(below, floor, base.kl_dims).sum(1)
    torch.testing.assert_close(out.objective, expected)


def test_the_weight_average_refuses_a_decay_of_zero_or_one():
    """--ema's decay must lie strictly between 0 and 1: 0 (no averaging) and 1 (the average
    never moves) are refused."""
    from torch import nn

    from vaekit.training.ema import WeightAverage

    layer = nn.Linear(2, 2)
    for decay in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="decay"):
            WeightAverage(layer, decay)
    assert WeightAverage(layer, 0.999).decay == 0.999


# --- distributions and likelihoods ---------------------------------------------------------


def _logistic_log_mass(v: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log P(bin v) of a logistic(loc, scale) discretized to 256 bins, edge bins extended to
    +-inf: the reference, in float64, from the logistic's CDF."""
    v, loc, scale = v.double(), loc.double(), scale.double()
    upper = torch.where(v == 255, 1.0, torch.sigmoid(((v + 0.5) / 255 - loc) / scale))
    lower = torch.where(v == 0, 0.0, torch.sigmoid(((v - 0.5) / 255 - loc) / scale))
    return torch.log(upper - lower)


def test_the_posterior_log_variance_is_kept_within_plus_minus_40():
    """DiagonalGaussian keeps a log-variance anywhere in [-40, 40] as given (its log_prob is
    torch's Normal with that scale) and clamps beyond it to the bounds."""
    from vaekit.models.distributions import DiagonalGaussian

    mean = torch.zeros(1, 4, dtype=torch.float64)
    logvar = torch.tensor([[-35.0, -15.0, 15.0, 35.0]], dtype=torch.float64)
    q = DiagonalGaussian(mean, logvar)
    torch.testing.assert_close(q.logvar, logvar)
    z = torch.tensor([[1e-8, 1e-4, 1e3, 1e7]], dtype=torch.float64)
    want = torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(z).sum(1)
    torch.testing.assert_close(q.log_prob(z), want)
    wide = DiagonalGaussian(mean[:, :2], torch.tensor([[-100.0, 100.0]], dtype=torch.float64))
    assert wide.logvar.tolist() == [[-40.0, 40.0]]


def test_a_discretized_logistic_keeps_log_scales_up_to_7_and_clamps_above():
    """The discretized logistic's log scale is used as given within [-7, 7] (a log scale of 6:
    the masses of a logistic of scale e^6, checked against its CDF) and clamped to 7 above."""
    from vaekit.models.distributions import discretized_logistic_log_mass

    v = torch.tensor([0.0, 1.0, 128.0, 254.0, 255.0])
    loc = torch.full((5,), 0.3)
    for log_scale, used in ((6.0, 6.0), (-3.0, -3.0), (9.0, 7.0)):
        got = discretized_logistic_log_mass(v / 255, loc, torch.full((5,), log_scale))
        want = _logistic_log_mass(v, loc, torch.full((5,), math.exp(used)))
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-5)


def test_a_bin_far_out_in_the_tail_keeps_a_finite_log_mass():
    """A location so far away (1e8) that a bin's two edges round to one float32 still gets a
    finite log mass, equal to the float64 computation's, not log(0)."""
    from vaekit.models.distributions import discretized_logistic_log_mass

    x = torch.tensor([128.0 / 255])
    loc, log_scale = torch.tensor([1e8]), torch.tensor([-7.0])
    got = discretized_logistic_log_mass(x, loc, log_scale)
    assert torch.isfinite(got).all()
    want = discretized_logistic_log_mass(x.double(), loc.double(), log_scale.double())
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=0)


def test_discretized_logistic_draws_land_in_each_bin_with_its_mass():
    """Draws of a discretized logistic fall in each bin with that bin's mass, the edge bin
    included: a location 5.5 scales above bin 0's upper edge leaves it about 0.4% of the mass,
    which the draws must reach (not clipped away in the logistic's tails)."""
    from vaekit.models.distributions import DiscretizedLogistic

    n, scale = 200_000, 0.01
    loc = torch.full((n, 1, 1, 1), 0.5 / 255 + 5.5 * scale)
    dist = DiscretizedLogistic(loc, torch.full_like(loc, math.log(scale)))
    draws = torch.round(dist.sample(torch.Generator().manual_seed(0)) * 255).flatten()
    values = torch.arange(256.0)
    mass = _logistic_log_mass(values, loc[0, 0, 0, 0].expand(256), torch.full((256,), scale))
    mass = mass.exp()
    counts = torch.bincount(draws.long(), minlength=256).double()
    for v in (0, 5, 10, 15, 20, 25):
        expected = n * float(mass[v])
        assert abs(float(counts[v]) - expected) < 5 * math.sqrt(expected) + 5, (v, expected)


def test_mixture_draws_choose_each_component_by_its_weight():
    """A discretized logistic mixture draws component k with probability softmax(logits)_k:
    with weights 0.6 / 0.3 / 0.1 on three narrow components at 0.1, 0.5 and 0.9, the draws
    fall near each location in those proportions (three components: with two, a mirrored
    Gumbel noise would happen to give the same choice)."""
    from vaekit.models.distributions import DiscretizedLogisticMixture

    n = 40_000
    weights = torch.tensor([0.6, 0.3, 0.1])
    logits = torch.log(weights).view(1, 3, 1, 1, 1).expand(n, 3, 1, 1, 1)
    locs = torch.tensor([0.1, 0.5, 0.9]).view(1, 3, 1, 1, 1).expand(n, 3, 1, 1, 1)
    dist = DiscretizedLogisticMixture(logits, locs, torch.full_like(locs, -7.0))
    draws = dist.sample(torch.Generator().manual_seed(0)).flatten()
    nearest = (draws[:, None] - torch.tensor([0.1, 0.5, 0.9])).abs().argmin(1)
    share = torch.bincount(nearest, minlength=3).double() / n
    torch.testing.assert_close(share, weights.double(), atol=0.012, rtol=0)


def test_the_discretized_logistic_likelihood_reads_raw_zero_as_mid_gray_and_scale_e_minus_3():
    """DiscretizedLogisticLikelihood offsets the decoder's raw output: raw location 0 is 0.5
    and raw log scale 0 is -3, so its masses are a logistic's of loc 0.5 + h_loc and scale
    exp(h_scale - 3)."""
    from vaekit.models.likelihoods import DiscretizedLogisticLikelihood

    g = torch.Generator().manual_seed(0)
    h = 0.3 * torch.randn(2, 2, 3, 3, generator=g)  # (B, 2C, H, W), C = 1
    x = torch.randint(0, 256, (2, 1, 3, 3), generator=g).float() / 255
    dist = DiscretizedLogisticLikelihood()(h)
    want = _logistic_log_mass(x * 255, 0.5 + h[:, :1], (h[:, 1:] - 3.0).exp()).flatten(1).sum(1)
    torch.testing.assert_close(dist.log_prob(x).double(), want, rtol=1e-4, atol=1e-4)
    zero = DiscretizedLogisticLikelihood()(torch.zeros(1, 2, 1, 1))
    assert float(zero.loc) == 0.5 and float(zero.log_scale) == -3.0


def test_gaussian_stds_are_clamped_to_one_thousandth_and_one_thousand():
    """The per-pixel and the learned Gaussian stds lie in [1e-3, 1e3]: within it as given
    (500 stays 500), beyond it at the bound."""
    from vaekit.models.likelihoods import LearnedGaussianLikelihood, PixelGaussianLikelihood

    log_std = torch.tensor([math.log(500.0), 10.0, -10.0, math.log(0.002)]).view(1, 1, 2, 2)
    h = torch.cat([torch.zeros_like(log_std), log_std], 1)
    std = PixelGaussianLikelihood()(h).std.flatten()
    torch.testing.assert_close(std, torch.tensor([500.0, 1e3, 1e-3, 0.002]))
    learned = LearnedGaussianLikelihood(init_std=0.1)
    with torch.no_grad():
        learned.log_std.fill_(math.log(1e-5))
    assert float(learned.std.detach()) == pytest.approx(1e-3)
    with torch.no_grad():
        learned.log_std.fill_(math.log(1e5))
    assert float(learned.std.detach()) == pytest.approx(1e3)


def test_a_fixed_gaussian_std_of_zero_is_refused():
    """GaussianLikelihood refuses a std of 0 (an infinite density), as it refuses a negative
    one."""
    from vaekit.models.likelihoods import GaussianLikelihood

    for std in (0.0, -1.0):
        with pytest.raises(ValueError, match="positive"):
            GaussianLikelihood(std)


# --- disentanglement metrics ---------------------------------------------------------------


def test_mig_on_a_case_worked_by_hand():
    """MIG = (I(top latent) - I(second latent)) / H(factor). Factor [0,0,1,1] (entropy ln 2);
    latent 0 copies it (I = ln 2), latent 1 is independent of it (I = 0), latent 2 is
    [0,0,0,1] (I = H(3/4, 1/4) - ln2 / 2): the gap is 1 - I_2 / ln 2, the second latent's
    information subtracted (not the least's) and the gap divided by the entropy."""
    from vaekit.evaluation.disentanglement import mig

    v = np.array([0, 0, 1, 1])
    z = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=float)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    i2 = h - math.log(2) / 2
    result = mig(z, v, bins=2)
    assert result["mig"] == pytest.approx(1 - i2 / math.log(2))
    assert result["per_factor"] == pytest.approx([1 - i2 / math.log(2)])


def test_discretize_puts_the_maximum_in_the_last_bin():
    """A latent's bins are equal-width over its range, and the value equal to the maximum
    falls in the last bin (bins - 1), not in a bin of its own."""
    from vaekit.evaluation.disentanglement import discretize

    z = np.array([[0.0], [0.24], [0.26], [0.5], [0.99], [1.0]])
    assert discretize(z, 4)[:, 0].tolist() == [0, 0, 1, 2, 3, 3]


def test_sap_is_the_best_latents_score_minus_the_second_best():
    """SAP per factor is the top score of its column of the score matrix minus the SECOND
    best (here one latent predicts the factor, one partly, one not at all: top - second is
    well below top - worst)."""
    from vaekit.evaluation.disentanglement import sap

    rng = np.random.default_rng(0)
    v = rng.integers(0, 2, 1500)
    flipped = np.where(rng.random(1500) < 0.2, 1 - v, v)
    z = np.stack([v + 0.1 * rng.standard_normal(1500), flipped, rng.standard_normal(1500)], 1)
    result = sap(z, v, train_points=1000, test_points=500)
    scores = np.array(result["scores"])[:, 0]
    best, second = np.sort(scores)[::-1][:2]
    assert best > 0.95 and 0.7 < second < 0.9 and scores.min() < 0.6
    assert result["sap"] == pytest.approx(best - second)


class _FixedImportances:
    """A stand-in for GradientBoostingClassifier whose importances are given, one column per
    factor in the order the factors are fitted."""

    columns: ClassVar[list[np.ndarray]] = []

    def __init__(self, n_estimators=100, random_state=0):
        pass

    def fit(self, x, y):
        self.feature_importances_ = _FixedImportances.columns.pop(0)
        return self

    def score(self, x, y):
        return 1.0


def test_dci_disentanglement_and_completeness_on_given_importances(monkeypatch):
    """DCI from an importance matrix R (D=4 latents, the fourth unused; K=3 factors, the third
    constant so its column is 0): disentanglement = sum_d (1 - H_K(row d)) * share of latent
    d, completeness = sum_k (1 - H_D(column k)) * share of factor k, entropies in base K and
    D, each worked here by hand."""
    import sklearn.ensemble

    from vaekit.evaluation.disentanglement import dci

    monkeypatch.setattr(sklearn.ensemble, "GradientBoostingClassifier", _FixedImportances)
    _FixedImportances.columns = [np.array([0.6, 0.4, 0.0, 0.0]), np.array([0.0, 0.5, 0.5, 0.0])]
    rng = np.random.default_rng(0)
    z = rng.standard_normal((40, 4))
    v = np.stack([np.arange(40) % 2, np.arange(40) % 3, np.zeros(40, dtype=int)], 1)
    result = dci(z, v, train_points=30, test_points=10)

    def h(p):
        p = np.array([x for x in p if x > 0]) / sum(p)
        return float(-(p * np.log(p)).sum())

    # rows (entropy base K = 3): [0.6, 0, 0] -> 1; [0.4, 0.5, 0] -> 1 - H / ln 3;
    # [0, 0.5, 0] -> 1; [0, 0, 0] -> weight 0; total 2. Columns: entropy base D = 4.
    disentanglement = 0.3 * 1 + 0.45 * (1 - h([0.4, 0.5]) / math.log(3)) + 0.25 * 1
    completeness = 0.5 * (1 - h([0.6, 0.4]) / math.log(4)) + 0.5 * (1 - math.log(2) / math.log(4))
    assert result["disentanglement"] == pytest.approx(disentanglement)
    assert result["completeness"] == pytest.approx(completeness)


def test_train_and_test_points_are_split_in_proportion_when_too_few():
    """With fewer examples than asked, the train and test positions keep the asked
    proportion (10,000 : 5,000 of 99 examples: 66 and 33), disjoint."""
    from vaekit.evaluation.disentanglement import _train_test

    train, test = _train_test(99, 10_000, 5_000, np.random.default_rng(0))
    assert (len(train), len(test)) == (66, 33)
    assert not set(train.tolist()) & set(test.tolist())


def test_factor_vae_score_divides_each_latent_by_its_scale():
    """Each latent is divided by its standard deviation before the vote: latent 0 follows
    factor 0 on a scale 100 times latent 1's (which follows factor 1); normalized, each
    factor's batches leave its own latent least varying (score 1), while on the raw scale
    latent 1 would win every vote (score 0.5). A latent of std 0.1 (above COLLAPSED_STD, 0.05)
    is active, not pruned."""
    from vaekit.evaluation.disentanglement import factor_vae_score

    rng = np.random.default_rng(0)
    v = rng.integers(0, 5, (2000, 2))
    z = np.stack(
        [
            100 * (v[:, 0] + 0.1 * rng.standard_normal(2000)),
            v[:, 1] + 0.1 * rng.standard_normal(2000),
            0.1 * rng.standard_normal(2000),
        ],
        1,
    )
    result = factor_vae_score(z, v, train_votes=200, eval_votes=200, variance_points=2000)
    assert result["active_latents"] == 3
    assert result["factor_vae_score"] == pytest.approx(1.0)


def _expected_value(loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """E[v / 255] of a discretized logistic, summed over its 256 bins' masses (the
    reference, float64)."""
    v = torch.arange(256.0, dtype=torch.float64)
    shape = loc.shape
    mass = _logistic_log_mass(
        v.expand(*shape, 256), loc.double().unsqueeze(-1), log_scale.double().exp().unsqueeze(-1)
    ).exp()
    return (mass * v / 255).sum(-1)


def test_a_coupled_mixtures_mean_chains_each_channel_on_the_one_before():
    """The coupled mixture's mean takes channel c's expectation at location
    loc_c + coupling_c * (channel c-1's expected value): channel 2 reads channel 1's, not
    channel 0's (one component, so the plug-in chain is exact to check by hand)."""
    from vaekit.models.distributions import DiscretizedLogisticMixture

    locs = torch.tensor([0.2, 0.1, -0.3]).view(1, 1, 3, 1, 1)
    log_scales = torch.full_like(locs, -2.5)
    coupling = torch.tensor([0.0, 0.8, -0.6]).view(1, 1, 3, 1, 1)
    dist = DiscretizedLogisticMixture(torch.zeros_like(locs), locs, log_scales, coupling)
    s = torch.tensor(-2.5)
    e0 = _expected_value(torch.tensor(0.2), s)
    e1 = _expected_value(0.1 + 0.8 * e0, s)
    e2 = _expected_value(-0.3 - 0.6 * e1, s)
    torch.testing.assert_close(
        dist.mean.flatten().double(), torch.stack([e0, e1, e2]), atol=1e-5, rtol=0
    )


def test_a_coupled_mixtures_draws_shift_each_channel_by_the_previous_draw():
    """Drawing from a coupled mixture, channel c's location is loc_c + coupling_c * (the
    value drawn for channel c-1): with narrow components, channel 1 of loc 0.3 and coupling
    1 lands at 0.3 + channel 0's draw (about 0.2)."""
    from vaekit.models.distributions import DiscretizedLogisticMixture

    n = 200
    locs = torch.tensor([0.2, 0.3]).view(1, 1, 2, 1, 1).expand(n, 1, 2, 1, 1)
    coupling = torch.tensor([0.0, 1.0]).view(1, 1, 2, 1, 1).expand(n, 1, 2, 1, 1)
    dist = DiscretizedLogisticMixture(
        torch.zeros_like(locs), locs, torch.full_like(locs, -7.0), coupling
    )
    draws = dist.sample(torch.Generator().manual_seed(0)).view(n, 2)
    assert (draws[:, 0] - 0.2).abs().max() < 0.02
    assert (draws[:, 1] - (0.3 + draws[:, 0])).abs().max() < 0.02


def test_bernoulli_draws_are_one_with_the_sigmoid_of_the_logit():
    """Bernoulli(logits).sample() gives 1 with probability sigmoid(logit): 20% at a logit of
    log(0.2 / 0.8)."""
    from vaekit.models.distributions import Bernoulli

    logits = torch.full((20_000, 1, 1, 1), math.log(0.2 / 0.8))
    draws = Bernoulli(logits).sample(torch.Generator().manual_seed(0))
    assert float(draws.mean()) == pytest.approx(0.2, abs=0.01)


def test_mse_leaves_out_the_missing_values_of_the_reference_and_psnr_follows():
    """mse(x, reference) averages over the values the reference holds, NaN ones left out
    (a missing value), and psnr is 10 log10(1 / mse), +inf for a perfect match."""
    from vaekit.models.metrics import mse, psnr

    reference = torch.tensor([[[[0.0, 1.0], [float("nan"), 0.5]]]])
    x = torch.tensor([[[[0.1, 0.7], [0.9, 0.5]]]])
    want = (0.1**2 + 0.3**2 + 0.0) / 3
    torch.testing.assert_close(mse(x, reference), torch.tensor([want]))
    torch.testing.assert_close(psnr(x, reference), torch.tensor([10 * math.log10(1 / want)]))
    assert psnr(reference.nan_to_num(0.2), reference.nan_to_num(0.2)).item() == math.inf


def test_the_reports_mean_variance_is_the_population_variance_of_the_posterior_means():
    """latents.mean_variance lists each unit's variance of the posterior mean over the
    examples, dividing by N (the figure the active-unit threshold is read against)."""
    model = _logistic_model()
    report, means = evaluate_vae(model, _bytes_set(n=5), EvalConfig(iw_samples=2))
    want = means.double().var(0, unbiased=False)
    assert report["latents"]["mean_variance"] == pytest.approx(want.tolist(), rel=1e-5)


def test_a_conditional_model_refuses_unlabelled_data():
    """evaluate_vae on a conditional VAE (num_classes > 0) refuses data without labels."""
    torch.manual_seed(0)
    config = ModelConfig.create((1, 4, 4), family="mlp", latent_dim=2, num_classes=3)
    model = build_vae(config).eval()
    with pytest.raises(ValueError, match="labelled"):
        evaluate_vae(model, _bytes_set(n=4), EvalConfig(iw_samples=2))


def test_the_weight_average_refuses_averages_of_another_model():
    """WeightAverage.load_state_dict refuses a state with a weight missing, and a weight of
    another shape even where it would broadcast (a (1,) bias into a (2,) one)."""
    from torch import nn

    from vaekit.training.ema import WeightAverage

    layer = nn.Linear(3, 2)
    average = WeightAverage(layer, 0.9)
    with pytest.raises(ValueError, match="do not fit"):
        average.load_state_dict({"weight": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match="wrong shape"):
        average.load_state_dict({"weight": torch.zeros(2, 3), "bias": torch.zeros(1)})


def test_each_bounds_standard_error_is_over_its_own_per_example_values():
    """The report's stderr of the -ELBO and of the NLL are each the standard error of the
    mean of that bound's own per-example values: std (n - 1) / sqrt(n)."""
    report, _ = evaluate_vae(
        _logistic_model(), _bytes_set(), EvalConfig(iw_samples=20, per_example=True)
    )
    for key, values in (("elbo", "neg_elbo"), ("iwae", "nll")):
        per = torch.tensor(report["per_example"][values], dtype=torch.float64)
        want = float(per.std(unbiased=True)) / math.sqrt(len(per))
        assert report[key]["stderr"] == pytest.approx(want, rel=1e-4)
    assert report["elbo"]["stderr"] != pytest.approx(report["iwae"]["stderr"], rel=1e-3)


def test_the_dominated_warning_says_how_far_the_example_moves_the_mean():
    """The warning gives the example's distance from the median divided by the number of
    examples: how much it alone moves the mean (1000 / 25 = 40 here)."""
    values = torch.full((25,), 3.0)
    values[7] = 1003.0
    said = dominated_warning(values, "bound")
    assert "it alone moves the mean by 40:" in said
