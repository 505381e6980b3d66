"""The pixel likelihoods: shapes, normalization, exact means, and agreement with torch."""

import math

import pytest
import torch
from torch import distributions as td

from vaekit.models.distributions import DiscretizedLogistic, DiscretizedLogisticMixture
from vaekit.models.likelihoods import (
    LOC_OFFSET,
    LOG_SCALE_OFFSET,
    BernoulliLikelihood,
    DiscretizedLogisticLikelihood,
    DiscretizedLogisticMixtureLikelihood,
    GaussianLikelihood,
    LearnedGaussianLikelihood,
    PixelGaussianLikelihood,
)

VALUES = torch.arange(256, dtype=torch.float32) / 255  # the 8-bit pixel values
DISCRETIZED = [DiscretizedLogisticLikelihood, lambda: DiscretizedLogisticMixtureLikelihood(3)]


def _decoder_output(likelihood, seed=0, b=4, c=3, h=3, w=2, extreme=False):
    """Random h (B, C*P, H, W); with `extreme`, locations far outside [0, 1] and log scales
    from far below to far above the clamp range, in every parameter slot."""
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(b, c * likelihood.params_per_channel, h, w, generator=g)
    if extreme:
        picks = torch.tensor([-1e4, -60.0, -8.0, -1.0, 0.0, 0.5, 1.0, 3.0, 25.0, 1e4])
        index = torch.randint(0, len(picks), out.shape, generator=g)
        out = picks[index]
    return out


def _all_values_log_probs(likelihood, h):
    """log P(x = v/255) for every v, for each pixel channel of likelihood(h): (256, B, C, H, W).

    All 256 values in one call: h repeated 256 times along the batch.
    """
    b, width, height, w = h.shape
    shape = (b, width // likelihood.params_per_channel, height, w)
    x = VALUES.view(256, 1, 1, 1, 1).expand(256, *shape).reshape(256 * b, *shape[1:])
    dist = likelihood(h.repeat(256, 1, 1, 1))
    per_pixel = dist.log_prob_per_pixel(x)
    torch.testing.assert_close(dist.log_prob(x), per_pixel.flatten(1).sum(1))
    return per_pixel.view(256, *shape)


def _logistic_bin_masses(loc, log_scale):
    """Reference masses of the 256 bins, (256, *loc.shape), in float64 from torch's logistic
    (a sigmoid-inverse transform of a uniform, shifted and scaled)."""
    loc, scale = loc.double(), log_scale.double().exp()
    logistic = td.TransformedDistribution(
        td.Uniform(torch.zeros_like(loc), torch.ones_like(loc)),
        [td.transforms.SigmoidTransform().inv, td.transforms.AffineTransform(loc, scale)],
    )
    edges = (torch.arange(255, dtype=torch.float64) + 0.5) / 255
    cdf = logistic.cdf(edges.view(255, *([1] * loc.dim())))
    ones = torch.ones_like(cdf[:1])
    return torch.cat([cdf, ones]) - torch.cat([torch.zeros_like(ones), cdf])


@pytest.mark.parametrize(
    ("make", "params", "support"),
    [
        (BernoulliLikelihood, 1, "binary"),
        (GaussianLikelihood, 1, "continuous"),
        (LearnedGaussianLikelihood, 1, "continuous"),
        (PixelGaussianLikelihood, 2, "continuous"),
        (DiscretizedLogisticLikelihood, 2, "8-bit"),
        (lambda: DiscretizedLogisticMixtureLikelihood(4), 12, "8-bit"),
        (lambda: DiscretizedLogisticMixtureLikelihood(4, coupled=True), 16, "8-bit"),
    ],
)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(make, params, support, channels):
    likelihood = make()
    assert likelihood.params_per_channel == params and likelihood.support == support
    h = torch.randn(5, channels * params, 4, 3)
    dist = likelihood(h)
    assert dist.mean.shape == (5, channels, 4, 3)
    x = torch.randint(0, 256, (5, channels, 4, 3)) / 255
    log_prob = dist.log_prob(x)
    assert log_prob.shape == (5,) and torch.isfinite(log_prob).all()


def test_decoder_output_must_match_the_parameter_count():
    with pytest.raises(ValueError, match="multiple of 2"):
        PixelGaussianLikelihood()(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="at least 1"):
        DiscretizedLogisticMixtureLikelihood(0)


@pytest.mark.parametrize("make", DISCRETIZED)
@pytest.mark.parametrize("extreme", [False, True])
def test_discretized_masses_sum_to_one_and_are_finite(make, extreme):
    likelihood = make()
    h = _decoder_output(likelihood, extreme=extreme)
    log_probs = _all_values_log_probs(likelihood, h)
    assert torch.isfinite(log_probs).all()
    total = torch.logsumexp(log_probs, dim=0)  # log of the total mass, per pixel channel
    torch.testing.assert_close(total, torch.zeros_like(total), atol=1e-5, rtol=0)


@pytest.mark.parametrize("make", DISCRETIZED)
@pytest.mark.parametrize("extreme", [False, True])
def test_discretized_mean_is_the_expected_value(make, extreme):
    likelihood = make()
    h = _decoder_output(likelihood, seed=1, extreme=extreme)
    dist = likelihood(h)
    masses = _all_values_log_probs(likelihood, h).double().exp()
    expected = (masses * VALUES.double().view(256, 1, 1, 1, 1)).sum(0)
    torch.testing.assert_close(dist.mean.double(), expected, atol=1e-4, rtol=0)
    assert (dist.mean >= 0).all() and (dist.mean <= 1).all()


def test_discretized_logistic_masses_match_torch_logistic():
    g = torch.Generator().manual_seed(2)
    loc = torch.rand(2, 3, 4, 4, generator=g) * 1.4 - 0.2
    log_scale = torch.rand(2, 3, 4, 4, generator=g) * 5 - 6  # scales from e^-6 to e^-1
    h = torch.cat([loc - LOC_OFFSET, log_scale - LOG_SCALE_OFFSET], dim=1)  # raw outputs
    dist = DiscretizedLogisticLikelihood()(h)
    assert isinstance(dist, DiscretizedLogistic)
    torch.testing.assert_close(dist.loc, loc)
    torch.testing.assert_close(dist.log_scale, log_scale)
    masses = _all_values_log_probs(DiscretizedLogisticLikelihood(), h).double().exp()
    torch.testing.assert_close(masses, _logistic_bin_masses(loc, log_scale), atol=2e-6, rtol=1e-4)


def test_discretized_logistic_mixture_masses_match_torch_logistic():
    g = torch.Generator().manual_seed(3)
    # (B, K, C, H, W) parameters, laid out as the decoder's h (B, 3KC, H, W).
    logits, locs, log_scales = (torch.randn(2, 4, 3, 2, 2, generator=g) for _ in range(3))
    locs, log_scales = locs * 0.5 + 0.5, log_scales.clamp(-6, 0)
    raw = [logits, locs - LOC_OFFSET, log_scales - LOG_SCALE_OFFSET]
    h = torch.cat(raw, dim=1).flatten(1, 2)
    weights = torch.softmax(logits.double(), dim=1)
    reference = (weights * _logistic_bin_masses(locs, log_scales)).sum(2)
    likelihood = DiscretizedLogisticMixtureLikelihood(4)
    dist = likelihood(h)
    assert isinstance(dist, DiscretizedLogisticMixture)
    for got, want in [(dist.logits, logits), (dist.locs, locs), (dist.log_scales, log_scales)]:
        torch.testing.assert_close(got, want)  # the layout: parameter p of channel c at p*C + c
    masses = _all_values_log_probs(likelihood, h).double().exp()
    torch.testing.assert_close(masses, reference, atol=2e-6, rtol=1e-4)


@pytest.mark.parametrize("extreme", [False, True])
def test_one_component_mixture_is_the_single_logistic(extreme):
    single = DiscretizedLogisticLikelihood()
    h = _decoder_output(single, seed=4, extreme=extreme)  # (B, 2C, H, W): locations, log scales
    logits = torch.randn(4, 3, 3, 2)  # any logit: the one weight is 1
    one = DiscretizedLogisticMixtureLikelihood(1)(torch.cat([logits, h], dim=1))
    x = torch.randint(0, 256, (4, 3, 3, 2)) / 255
    torch.testing.assert_close(one.log_prob(x), single(h).log_prob(x))
    torch.testing.assert_close(one.mean, single(h).mean)


def test_discretized_gradients_are_finite_for_extreme_parameters():
    likelihood = DiscretizedLogisticMixtureLikelihood(3)
    h = _decoder_output(likelihood, seed=5, extreme=True).requires_grad_()
    x = torch.randint(0, 256, (4, 3, 3, 2)) / 255
    likelihood(h).log_prob(x).sum().backward()
    assert torch.isfinite(h.grad).all()


def test_discretized_logistic_mixture_fits_images():
    g = torch.Generator().manual_seed(6)
    x = torch.randint(0, 256, (4, 3, 4, 4), generator=g) / 255
    x[:, :, :2] = 0.0  # a saturated background, as in real images
    likelihood = DiscretizedLogisticMixtureLikelihood(3)
    h = (0.1 * torch.randn(4, 3 * 9, 4, 4, generator=g)).requires_grad_()
    optimizer = torch.optim.Adam([h], lr=0.05)

    def nll():
        return -likelihood(h).log_prob(x).mean()

    start = nll().item()
    for _ in range(100):
        optimizer.zero_grad()
        loss = nll()
        loss.backward()
        optimizer.step()
    end = nll().item()
    assert math.isfinite(end) and end < 0.5 * start


def test_pixel_gaussian_matches_torch_and_clamps_the_std():
    g = torch.Generator().manual_seed(7)
    mean, log_std = torch.randn(3, 2, 4, 4, generator=g), torch.rand(3, 2, 4, 4, generator=g) - 3
    x = torch.rand(3, 2, 4, 4, generator=g)
    dist = PixelGaussianLikelihood()(torch.cat([mean, log_std], dim=1))
    expected = td.Independent(td.Normal(mean, log_std.exp()), 3).log_prob(x)
    torch.testing.assert_close(dist.log_prob(x), expected)
    torch.testing.assert_close(dist.mean, mean)
    # A collapsing std stops at 1e-3: the density on a constant pixel stays bounded.
    collapsed = PixelGaussianLikelihood()(torch.cat([x, torch.full_like(x, -100.0)], dim=1))
    bound = td.Independent(td.Normal(x, 1e-3), 3).log_prob(x)
    torch.testing.assert_close(collapsed.log_prob(x), bound)


def test_learned_gaussian_matches_torch_and_learns_its_std():
    likelihood = LearnedGaussianLikelihood(init_std=0.2)
    (param,) = likelihood.parameters()
    assert param.requires_grad and param.shape == ()
    g = torch.Generator().manual_seed(8)
    h, x = torch.randn(3, 1, 5, 5, generator=g), torch.rand(3, 1, 5, 5, generator=g)
    dist = likelihood(h)
    torch.testing.assert_close(dist.log_prob(x), td.Independent(td.Normal(h, 0.2), 3).log_prob(x))
    torch.testing.assert_close(dist.mean, h)
    dist.log_prob(x).sum().backward()
    assert param.grad is not None and param.grad.abs() > 0
    with pytest.raises(ValueError, match="positive"):
        LearnedGaussianLikelihood(init_std=0.0)


@pytest.mark.parametrize("extreme", [False, True])
def test_coupled_mixture_conditionals_sum_to_one_given_the_previous_channel(extreme):
    likelihood = DiscretizedLogisticMixtureLikelihood(3, coupled=True)
    h = _decoder_output(likelihood, seed=7, b=1, h=1, w=1, extreme=extreme)  # one RGB pixel
    g = torch.Generator().manual_seed(8)
    dist = likelihood(h.repeat(256, 1, 1, 1))
    for c in range(3):
        for _ in range(3):
            x = (torch.randint(0, 256, (1, 3, 1, 1), generator=g) / 255).repeat(256, 1, 1, 1)
            x[:, c] = VALUES.view(256, 1, 1)  # all values of channel c, the others fixed
            log_probs = dist.log_prob_per_pixel(x)[:, c]
            assert torch.isfinite(log_probs).all()
            total = torch.logsumexp(log_probs.flatten(), dim=0)
            torch.testing.assert_close(total, torch.zeros_like(total), atol=1e-5, rtol=0)


def test_coupled_mixture_matches_the_reference_and_the_plain_one_without_coupling():
    g = torch.Generator().manual_seed(9)
    logits, locs, log_scales, raw = (torch.randn(2, 2, 3, 2, 2, generator=g) for _ in range(4))
    log_scales = log_scales.clamp(-6, 0)
    h = torch.cat([logits, locs, log_scales, raw], dim=1).flatten(1, 2)
    x = torch.randint(0, 256, (2, 3, 2, 2), generator=g) / 255
    got = DiscretizedLogisticMixtureLikelihood(2, coupled=True)(h).log_prob_per_pixel(x)
    # Reference: channel c's component k is located at its offset location + tanh(raw) * x[c-1].
    loc = locs + LOC_OFFSET
    loc[:, :, 1:] += torch.tanh(raw[:, :, 1:]) * x[:, None, :-1]
    masses = _logistic_bin_masses(loc, log_scales + LOG_SCALE_OFFSET)  # (256, B, K, C, H, W)
    v = torch.round(x * 255).long()
    picked = masses.gather(0, v[None, :, None].expand(1, *masses.shape[1:]))[0]
    want = (torch.softmax(logits.double(), dim=1) * picked).sum(1)
    # Compared as masses: in the far tails the float64 reference (a difference of two CDFs)
    # is less accurate than the log-space computation under test.
    torch.testing.assert_close(got.double().exp(), want, atol=2e-6, rtol=1e-4)
    # With zero coefficients it is the plain mixture.
    flat = torch.cat([logits, locs, log_scales, torch.zeros_like(raw)], dim=1).flatten(1, 2)
    coupled = DiscretizedLogisticMixtureLikelihood(2, coupled=True)(flat)
    plain = DiscretizedLogisticMixtureLikelihood(2)(h[:, : 3 * 2 * 3])
    torch.testing.assert_close(coupled.log_prob(x), plain.log_prob(x))
    torch.testing.assert_close(coupled.mean, plain.mean)


def test_coupled_mixture_fits_correlated_colors_better():
    """Gray-ish pixels whose R, G and B move together: with the same number of free
    parameters per pixel position shared across examples, the coupled mixture learns the
    correlation and scores them far better than independent channels."""
    g = torch.Generator().manual_seed(10)
    gray = torch.rand(512, 1, 1, 1, generator=g)
    x = (gray + 0.02 * torch.randn(512, 3, 1, 1, generator=g)).clamp(0, 1)
    x = torch.round(x * 255) / 255
    final = {}
    for coupled in (False, True):
        likelihood = DiscretizedLogisticMixtureLikelihood(2, coupled=coupled)
        h = torch.zeros(1, 3 * likelihood.params_per_channel, 1, 1, requires_grad=True)
        optimizer = torch.optim.Adam([h], lr=0.05)
        for _ in range(400):
            optimizer.zero_grad()
            loss = -likelihood(h.expand(512, -1, -1, -1)).log_prob(x).mean()
            loss.backward()
            optimizer.step()
        final[coupled] = loss.item()
    assert final[True] < final[False] - 3.0  # nats per pixel: G and B nearly known given R
