"""Training objectives beside the -ELBO (--objective): the estimators against closed forms
and known answers, each objective trained through the CLI, their refusals, and FactorVAE's
discriminator resumed exactly with the rest."""

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaekit.cli.main import main
from vaekit.components import OBJECTIVES
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.io import SCHEMA_VERSION, migrate_v8
from vaekit.train_options import TRAIN_OPTIONS
from vaekit.training.loop import TrainConfig, make_state
from vaekit.training.objectives import (
    Discriminated,
    MaximumMeanDiscrepancy,
    TotalCorrelation,
    critic_network,
    discriminator_loss,
    mmd,
    permute_dims,
    total_correlation,
)
from vaekit.training.schedules import warmup_fraction


def vaekit(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exit:
        return int(exit.code or 0)
    raise AssertionError("main() must exit")


def _aggregate_sample(rho: float, s2: float, b: int, seed: int):
    """B posteriors N(c_i, s2 I) in 2 dimensions whose aggregate is exactly N(0, Sigma),
    Sigma = [[1, rho], [rho, 1]] (the centres drawn from N(0, Sigma - s2 I)), one draw of
    each; and the exact total correlation of N(0, Sigma)."""
    g = torch.Generator().manual_seed(seed)
    sigma = torch.tensor([[1.0, rho], [rho, 1.0]])
    chol = torch.linalg.cholesky(sigma - s2 * torch.eye(2))
    centres = torch.randn(b, 2, generator=g) @ chol.T
    z = centres + math.sqrt(s2) * torch.randn(b, 2, generator=g)
    logvar = torch.full((b, 2), math.log(s2))
    exact = 0.5 * (torch.log(torch.diagonal(sigma)).sum() - torch.logdet(sigma))
    return z, centres, logvar, float(exact)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
@pytest.mark.parametrize(("rho", "s2"), [(0.0, 0.15), (0.8, 0.1), (0.95, 0.04)])
def test_the_total_correlation_estimate_is_the_exact_tc_of_a_gaussian(estimator, rho, s2):
    z, mean, logvar, exact = _aggregate_sample(rho, s2, 2000, seed=0)
    # mss: a data set much larger than the batch, so each example's own posterior counts
    # for little and the others stand for the rest of the data.
    size = 2000 if estimator == "mws" else 10**6
    estimate = float(total_correlation(z, mean, logvar, size, estimator).mean())
    # Off by (Z - 1) log N (as the 1 / (N B) weights give) or with q(z) and the marginals
    # swapped, the estimate would miss by far more than this.
    assert estimate == pytest.approx(exact, abs=0.05)


def test_the_two_estimators_agree_where_the_data_set_is_the_batch():
    z, mean, logvar, _ = _aggregate_sample(0.8, 0.1, 64, seed=1)
    # N = B: mss weighs every posterior 1 / B, as mws does.
    mws = total_correlation(z, mean, logvar, 64, "mws")
    assert torch.allclose(total_correlation(z, mean, logvar, 64, "mss"), mws, atol=1e-5)
    with pytest.raises(VaekitError, match="estimator"):
        total_correlation(z, mean, logvar, 64, "bogus")


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_each_estimators_weights_are_the_papers_on_a_case_worked_by_hand(estimator):
    """Three draws, two dimensions, a data set of 10: q(z_i) = sum_j w_ij q(z_i|x_j), and each
    marginal alike, with mws's w_ij = 1/3 and mss's w_ii = 1/N, w_ij = (N-1)/(N(B-1)) (Chen
    et al. 2018), each density from torch.distributions, one pair at a time."""
    from torch.distributions import Normal

    g = torch.Generator().manual_seed(3)
    z, mean, logvar = (torch.randn(3, 2, generator=g, dtype=torch.float64) for _ in range(3))
    b, n = 3, 10

    def w(i: int, j: int) -> float:
        if estimator == "mws":
            return 1 / b
        return 1 / n if i == j else (n - 1) / (n * (b - 1))

    want = []
    for i in range(b):
        q = [Normal(mean[j], (0.5 * logvar[j]).exp()).log_prob(z[i]).exp() for j in range(b)]
        joint = sum(w(i, j) * float(q[j].prod()) for j in range(b))
        marginals = [sum(w(i, j) * float(q[j][d]) for j in range(b)) for d in range(2)]
        want.append(math.log(joint) - sum(math.log(m) for m in marginals))
    got = total_correlation(z, mean, logvar, n, estimator)
    assert got.tolist() == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_mmd_is_zero_for_a_sample_and_itself_and_grows_with_a_shift(kernel):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    assert float(mmd(x, x, kernel)) == pytest.approx(0.0, abs=1e-6)
    shifted = [float(mmd(x, x + shift, kernel)) for shift in (0.25, 0.5, 1.0, 2.0)]
    assert shifted == sorted(shifted) and shifted[0] > 1e-3
    # another sample of the same distribution is much closer than a shifted one
    same = float(mmd(x, torch.randn(256, 4, generator=g), kernel))
    assert same < shifted[1] / 3


def _discriminator_accuracy(dependent: bool) -> float:
    """A discriminator trained to tell z from z permuted dimension-wise; its accuracy on fresh
    draws. Independent factors: z and its permutation have the same law."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)

    def draw(n: int) -> torch.Tensor:
        a = torch.randn(n, 1, generator=g)
        b = (
            a + 0.1 * torch.randn(n, 1, generator=g)
            if dependent
            else torch.randn(n, 1, generator=g)
        )
        return torch.cat([a, b], 1)

    critic = critic_network(2, (32, 32))
    optimizer = torch.optim.Adam(critic.parameters(), lr=3e-3)
    for _ in range(300):
        z = draw(256)
        loss = discriminator_loss(critic, z, permute_dims(z, g))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    z = draw(4000)
    with torch.no_grad():
        real = critic(z).argmax(1) == 0
        fake = critic(permute_dims(z, g)).argmax(1) == 1
    return float(torch.cat([real, fake]).float().mean())


def test_the_discriminator_tells_dependent_factors_and_not_independent_ones():
    assert _discriminator_accuracy(dependent=False) == pytest.approx(0.5, abs=0.05)
    assert _discriminator_accuracy(dependent=True) > 0.8


def test_permuting_dimensions_keeps_each_marginal():
    z = torch.arange(12.0).view(6, 2)
    permuted = permute_dims(z, torch.Generator().manual_seed(0))
    for d in range(2):
        assert sorted(permuted[:, d].tolist()) == z[:, d].tolist()
    assert not torch.equal(permuted, z)


def test_the_factorvae_penalty_reaches_z_and_not_the_discriminator():
    model = build_vae(ModelConfig.create((1, 8, 8), family="mlp", hidden_dims=(8,), latent_dim=3))
    state = make_state(model, TrainConfig(objective="factorvae", critic_lr=0.01))
    (adam,) = state.objective.optimizer.param_groups  # as Kim & Mnih 2018, at --critic-lr
    assert adam["betas"] == (0.5, 0.9) and adam["lr"] == 0.01
    x = torch.rand(5, 1, 8, 8)
    from vaekit.models.vae import Objective

    out = model.loss(x, torch.Generator().manual_seed(0), objective=Objective(
        penalty=lambda t: state.objective.penalty(t)))  # fmt: skip
    out.objective.sum().backward()
    assert all(p.grad is None for p in state.objective.critic.parameters())
    assert model.encoder.parameters().__next__().grad is not None
    # the penalty is gamma (logit_real - logit_permuted): what the objective adds to the loss
    assert not torch.allclose(out.objective, out.loss)


def test_the_factorvae_penalty_estimates_a_positive_tc_where_the_latents_are_correlated():
    """gamma (logit_real - logit_permuted): after its discriminator has learned correlated
    draws from their dimension-wise permutations, the penalty of correlated draws is
    positive (about gamma times their total correlation), and it is the discriminator's own
    logits' difference; a penalty of the opposite sign would reward correlation."""
    from types import SimpleNamespace

    from vaekit.training.distributed import SINGLE

    model = build_vae(ModelConfig.create((1, 8, 8), family="mlp", hidden_dims=(8,), latent_dim=2))
    state = make_state(model, TrainConfig(objective="factorvae", factor_weight=2.0,
                                          critic_lr=0.01))  # fmt: skip
    objective = state.objective
    g = torch.Generator().manual_seed(0)

    def correlated(n: int) -> torch.Tensor:  # rho = 0.95: TC = -0.5 log(1 - rho^2) = 1.16
        a, b = torch.randn(n, generator=g), torch.randn(n, generator=g)
        return torch.stack([a, 0.95 * a + (1 - 0.95**2) ** 0.5 * b], 1)

    for _ in range(300):
        objective.last_z = correlated(256)
        objective.after_step(g, SINGLE, True)
    z = correlated(2000)
    penalty = objective.penalty(SimpleNamespace(z=z, log_px=torch.zeros(2000, 1)))
    with torch.no_grad():
        logits = objective.critic(z)
    torch.testing.assert_close(penalty, 2.0 * (logits[:, 0] - logits[:, 1]))
    tc = float(penalty.mean()) / 2.0
    assert 0.5 < tc < 2.0, tc  # near the exact 1.16 nats, and not of the other sign


@pytest.mark.parametrize("kernel_name", ["rbf", "imq"])
def test_the_infovae_penalty_is_lambda_times_the_mmd_to_the_priors_draws(kernel_name):
    """lambda MMD^2(z, z') with z' the prior's draws from the step's generator, by the
    paper's sums over pairs (Zhao et al. 2017), written out here one pair at a time; the
    same for every example. A penalty that ignores the prior's draws fails it."""
    from types import SimpleNamespace

    model = build_vae(ModelConfig.create((1, 8, 8), family="mlp", hidden_dims=(8,), latent_dim=2))
    state = make_state(model, TrainConfig(objective="infovae", mmd_weight=3.0,
                                          mmd_kernel=kernel_name))  # fmt: skip
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(0)) + 1.5  # off the prior
    got = state.objective.penalty(SimpleNamespace(z=z, log_px=torch.zeros(6, 1)),
                                  torch.Generator().manual_seed(5))  # fmt: skip
    prior = model.sample_latents(6, torch.Generator().manual_seed(5))  # the same draws
    scale = 2.0 * 2  # 2 Z

    def k(a: torch.Tensor, b: torch.Tensor) -> float:
        d2 = float(((a - b) ** 2).sum())
        return math.exp(-d2 / scale) if kernel_name == "rbf" else scale / (scale + d2)

    def mean_k(xs, ys) -> float:
        return sum(k(a, b) for a in xs for b in ys) / (len(xs) * len(ys))

    want = 3.0 * (mean_k(z, z) + mean_k(prior, prior) - 2 * mean_k(z, prior))
    assert got.shape == (6,) and got.tolist() == pytest.approx([want] * 6, rel=1e-5)
    assert want > 0.05  # the draws off the prior are seen as such


def test_the_objectives_and_their_options_are_read_from_the_registry():
    option = TRAIN_OPTIONS["objective"]
    assert option.choices == tuple(c.name for c in OBJECTIVES.all())
    assert set(option.choices) >= {"elbo", "tcvae", "factorvae", "infovae"}
    for declared in OBJECTIVES.all():
        assert declared.name in option.help
        for name in declared.options:  # each objective's own options are declared options
            assert TRAIN_OPTIONS[name].group == "objective"
            assert TRAIN_OPTIONS[name].section == "training"


def _train(out: Path, *args: object) -> int:
    return vaekit(
        "train", "--data", "digits", "--model", "mlp", "--hidden-dims", "32", "--latent-dim",
        "4", "--batch-size", "64", "--out", out, "--quiet", "--no-report", *args,
    )  # fmt: skip


def _lines(run: Path) -> list[dict]:
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "args",
    [
        ("--objective", "tcvae", "--tc-weight", "6"),
        ("--objective", "tcvae", "--tc-estimator", "mss"),
        ("--objective", "factorvae", "--factor-weight", "10"),
        ("--objective", "infovae", "--mmd-kernel", "imq"),
        ("--objective", "infovae", "--beta", "0"),
    ],
)
def test_each_objective_trains_through_the_command_line(tmp_path: Path, args):
    run = tmp_path / "run"
    assert _train(run, "--epochs", "2", *args) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["schema_version"] == SCHEMA_VERSION
    assert config["training"]["objective"] == args[1]
    name = args[2][2:].replace("-", "_")  # the objective's own option, as recorded
    assert config["training"][name] == TRAIN_OPTIONS[name].kind.parse(args[3])
    epochs = [line for line in _lines(run) if "epoch" in line]
    losses = [e["train"]["neg_elbo"] for e in epochs]
    assert all(math.isfinite(v) for v in losses) and losses[1] < losses[0]
    assert all(e["skipped_steps"] == 0 for e in epochs)
    # the model file is the VAE alone; a discriminator is in the checkpoint only
    assert not any(
        k.startswith(("critic", "objective")) for k in load_file(run / "model.safetensors")
    )
    state = load_file(run / "checkpoint" / "state.safetensors")
    held = any(k.startswith("objective.critic.") for k in state)
    assert held == (args[1] == "factorvae")


def test_a_weight_that_adds_nothing_trains_exactly_as_the_elbo(tmp_path: Path):
    """The penalty's plumbing adds nothing of its own: with a zero weight each objective gives
    the -ELBO run's numbers (FactorVAE's discriminator trains, and changes nothing)."""
    assert _train(tmp_path / "elbo", "--epochs", "1") == 0
    plain = _lines(tmp_path / "elbo")[0]["train"]
    for name, args in [
        ("tcvae", ("--tc-weight", "1")),
        ("factorvae", ("--factor-weight", "0")),
        ("infovae", ("--mmd-weight", "0")),
    ]:
        assert _train(tmp_path / name, "--epochs", "1", "--objective", name, *args) == 0
        assert _lines(tmp_path / name)[0]["train"] == plain
    assert _train(tmp_path / "strong", "--epochs", "1", "--objective", "tcvae") == 0
    assert _lines(tmp_path / "strong")[0]["train"] != plain


def test_a_penalty_on_the_total_correlation_warms_up_with_the_kl(tmp_path: Path):
    """The TC (a part of the KL) is weighted as the KL is during --kl-warmup. At full weight
    from the first step it drove this run's KL from about 0.2 to over 800 nats (a `vaekit
    tune` trial found it): the penalty pulled on latents that nothing yet held to the prior."""
    config = TrainConfig(kl_warmup=4)
    assert [warmup_fraction(config, s) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert TotalCorrelation.part_of_kl and Discriminated.part_of_kl
    assert not MaximumMeanDiscrepancy.part_of_kl  # InfoVAE's MMD is no part of the KL
    run = tmp_path / "run"
    assert vaekit("train", "--data", "digits", "--model", "mlp", "--hidden-dims", "512,256",
                  "--latent-dim", "24", "--objective", "factorvae", "--factor-weight", "67.7",
                  "--kl-warmup", "1000", "--lr", "0.00234", "--epochs", "1", "--out", run,
                  "--quiet", "--no-report") == 0  # fmt: skip
    assert _lines(run)[0]["val"]["kl"] < 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tc-weight", "3"), "--tc-weight is an option of --objective tcvae, not of"),
        # given at its default it is still given: refused as another family's option is
        (("--tc-weight", "6"), "--tc-weight is an option of --objective tcvae, not of"),
        (("--objective", "infovae", "--critic-lr", "0.1"), "--critic-lr is an option of"),
        (("--objective", "tcvae", "--model", "hvae"), "one layer of latents"),
        (("--objective", "factorvae", "--model", "hvae"), "one layer of latents"),
        (("--objective", "infovae", "--iw-train", "2"), "combined with --objective infovae"),
        (("--objective", "tcvae", "--flow-steps", "1"), "a flow posterior"),
        (("--objective", "tcvae", "--tc-estimator", "exact"), "--tc-estimator"),
        (("--objective", "factorvae", "--batch-size", "1"), "--batch-size must be at least 2"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_and_exit_non_zero(tmp_path: Path, capsys, args, message):
    assert _train(tmp_path / "run", "--epochs", "1", *args) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_factorvae_resumes_exactly_with_its_discriminator(tmp_path: Path):
    args = ("--objective", "factorvae", "--critic-lr", "0.001", "--binarize")
    assert _train(tmp_path / "straight", "--epochs", "2", *args) == 0
    assert _train(tmp_path / "resumed", "--epochs", "1", *args) == 0
    assert vaekit("train", "--out", tmp_path / "resumed", "--resume", "--epochs", "2",
                  "--quiet") == 0  # fmt: skip
    for name in ("model.safetensors", "checkpoint/state.safetensors"):
        a, b = (load_file(tmp_path / run / name) for run in ("straight", "resumed"))
        tensors = [k for k in a if k != "rng.torch"]
        assert set(a) == set(b) and tensors
        for key in tensors:
            assert torch.equal(a[key], b[key]), key
    state = load_file(tmp_path / "straight" / "checkpoint" / "state.safetensors")
    assert any(k.startswith("objective.critic.") for k in state)
    assert any(k.startswith("objective.adam.") for k in state)  # its optimizer's moments
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in _lines(tmp_path / "straight")]
    again = [{k: v for k, v in r.items() if k != "time_s"} for r in _lines(tmp_path / "resumed")]
    assert strip[:2] == again[:2]


def test_a_discriminator_needs_its_state_in_the_checkpoint(tmp_path: Path):
    """A plain run's checkpoint lacks a discriminator: a factorvae state refuses it, in one
    line; and a factorvae checkpoint does not load into a plain run's state."""
    from vaekit.training.checkpoint import load_checkpoint, save_checkpoint

    def fresh(objective: str):
        torch.manual_seed(0)
        config = ModelConfig.create((1, 8, 8), family="mlp", hidden_dims=(8,), latent_dim=3)
        return make_state(build_vae(config), TrainConfig(objective=objective))

    for folder in ("plain", "factor"):
        (tmp_path / folder).mkdir()
    save_checkpoint(tmp_path / "plain", fresh("elbo"), "h")
    with pytest.raises(VaekitError, match="no discriminator state"):
        load_checkpoint(tmp_path / "plain", fresh("factorvae"))
    save_checkpoint(tmp_path / "factor", fresh("factorvae"), "h")
    with pytest.raises(VaekitError, match="objective's state"):
        load_checkpoint(tmp_path / "factor", fresh("elbo"))
    assert load_checkpoint(tmp_path / "factor", fresh("factorvae")) == "h"


def test_a_schema_8_config_reads_as_the_plain_objective():
    config = {"schema_version": 8, "model": {}, "data": {}, "training": {"beta": 4.0}}
    migrated = migrate_v8(config)
    assert migrated["schema_version"] == 9 and migrated["training"]["beta"] == 4.0
    assert migrated["training"]["objective"] == "elbo"
    recorded = {k: v for k, v in migrated["training"].items() if k != "beta"}
    # what an old run reads is what each option's declaration says today
    assert recorded == {k: TRAIN_OPTIONS[k].default for k in recorded}
