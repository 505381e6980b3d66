"""The IAF posterior (Kingma et al. 2016): its log-determinant against autograd's Jacobian,
the autoregressive property, log q(z|x) by the change of variables, training, save/load."""

import math

import pytest
import torch

from tests.conftest import write_idx_folder
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.flows import IAF, IAFStep


def _flow(dims=4, context=3, hidden=16, steps=3) -> IAF:
    torch.manual_seed(0)
    flow = IAF(dims, context, hidden, steps)
    with torch.no_grad():  # away from the near-identity start, so that the test can fail
        for p in flow.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return flow


def test_the_log_determinant_is_autograds():
    flow = _flow()
    h = torch.randn(1, 3)
    for _ in range(3):
        z = torch.randn(4)
        jacobian = torch.autograd.functional.jacobian(lambda v: flow(v[None], h)[0][0], z)
        sign, log_abs_det = torch.linalg.slogdet(jacobian)
        assert sign == 1
        torch.testing.assert_close(flow(z[None], h)[1][0], log_abs_det, rtol=1e-5, atol=1e-5)


def test_a_step_is_autoregressive():
    torch.manual_seed(0)
    step = IAFStep(5, 2, 12)
    with torch.no_grad():
        for p in step.parameters():
            p.add_(torch.randn_like(p))
    z, h = torch.randn(1, 5), torch.randn(1, 2)
    jacobian = torch.autograd.functional.jacobian(lambda v: step(v, h)[0][0], z)[:, 0]
    for i in range(5):
        for j in range(5):
            depends = bool(jacobian[i, j].abs() > 0)
            # output i is sigma_i(z_<i) * z_i + (1 - sigma_i) * m_i(z_<i)
            assert depends == (j <= i), (i, j)


def _model(**extra):
    config = ModelConfig.create(
        shape=(1, 8, 8), family="mlp", latent_dim=3, hidden_dims=(16,), flow_steps=2,
        flow_hidden=8, **extra,
    )  # fmt: skip
    torch.manual_seed(0)
    return build_vae(config)


def test_log_q_is_the_change_of_variables():
    model = _model()
    x, eps = torch.rand(2, 1, 8, 8), torch.randn(2, 1, 3)
    terms = model.terms(x, eps)
    qz = model.encode(x)
    z0 = qz.mean + qz.std * eps[:, 0]
    gaussian = torch.distributions.Normal(qz.mean, qz.std).log_prob(z0).sum(-1)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: model.flow(v, qz.context)[0].sum(0), z0
    )  # (Z, B, Z): each example's Jacobian on its own rows
    for b in range(2):
        log_det = torch.linalg.slogdet(jacobian[:, b, :])[1]
        torch.testing.assert_close(terms.log_qz[b, 0], gaussian[b] - log_det, rtol=1e-5,
                                   atol=1e-5)  # fmt: skip
    z, _ = model.flow(z0, qz.context)
    torch.testing.assert_close(model._posterior_given_noise(x, eps)[:, 0], z)  # the same z
    log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(terms.log_pz[:, 0], log_pz)
    assert terms.kl_dims is None and not model.has_kl_per_dim


def test_the_posterior_summaries_are_deterministic_monte_carlo():
    model = _model()
    x = torch.rand(3, 1, 8, 8)
    mean, std = model.posterior_moments(x)
    again, _ = model.posterior_moments(x)
    assert torch.equal(mean, again) and mean.shape == (3, 3) and (std > 0).all()
    draws = model.posterior_sample(x, n=4000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(mean, draws.mean(1), atol=0.1, rtol=0)
    # ... and the spread of the same draws (about 2% off at 4,000 draws; a factor 2 is not)
    torch.testing.assert_close(std, draws.std(1), atol=0.05, rtol=0.1)


def test_flows_refuse_what_they_cannot_do(tmp_path):
    with pytest.raises(VaekitError, match=r"its own hierarchy; .* \(mlp, conv or resnet\)$"):
        ModelConfig.create((1, 8, 8), family="hvae", flow_steps=2).validate()
    from vaekit.api.train import train

    data = write_idx_folder(tmp_path / "idx", n_train=20, n_test=4, size=8)
    with pytest.raises(VaekitError, match="--free-bits needs a closed-form KL"):
        train(data, model="mlp", flow_steps=1, free_bits=0.5, progress=False)


def test_a_flow_run_trains_saves_and_loads(tmp_path):
    import vaekit
    from vaekit.api.train import train

    data = write_idx_folder(tmp_path / "idx", n_train=60, n_test=10, size=8)
    run = train(
        data, out=tmp_path / "r", model="mlp", hidden_dims=(32,), latent_dim=3, flow_steps=2,
        flow_hidden=16, epochs=4, batch_size=10, lr=3e-3, progress=False, report=False,
    )  # fmt: skip
    losses = [r["train"]["loss"] for r in run.history]
    assert losses[-1] < losses[0]
    assert run.config["model"]["flow_steps"] == 2
    loaded = vaekit.load(run.path)
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(loaded.vae.posterior_mean(x), run.model.vae.posterior_mean(x))
    report = vaekit.evaluate(loaded, iw_samples=4, max_examples=5, probe=False)
    assert math.isfinite(report["iwae"]["nll"]) and report["latents"]["kl_per_dim"] is None


def test_the_posterior_summaries_trace_with_any_batch_size():
    """vaekit export traces `posterior_moments`; the batch must not be frozen into the graph."""
    model = _model().eval()

    class Moments(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vae = model

        def forward(self, x):
            return self.vae.posterior_moments(x)

    with torch.no_grad():
        traced = torch.jit.trace(Moments(), (torch.rand(2, 1, 8, 8),))
        for batch in (1, 5):
            x = torch.rand(batch, 1, 8, 8)
            for got, want in zip(traced(x), model.posterior_moments(x), strict=True):
                torch.testing.assert_close(got, want)
