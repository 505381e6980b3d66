"""The VQ-VAE family (van den Oord et al. 2017) and its code prior: quantization, the
straight-through gradient, the codebook's moving averages and restarts, and the commands on a
vqvae run (train, eval, fit-prior, sample)."""

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from vaekit.config import to_dict
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.io import load_model, save_weights, write_config
from vaekit.models.vqvae import LAPLACE, Codebook

SMALL = {"channels": (8, 16), "latent_dim": 4, "codebook_size": 16, "depth": 1}


def _model(seed: int = 0, **options):
    torch.manual_seed(seed)
    config = ModelConfig.create((1, 8, 8), family="vqvae", **{**SMALL, **options})
    return build_vae(config), config


def test_the_config_holds_the_familys_options_and_refuses_others():
    _, config = _model()
    assert config.family_options == {"channels": (8, 16), "depth": 1, "codebook_size": 16,
                                      "commitment": 0.25, "codebook_decay": 0.99}  # fmt: skip
    with pytest.raises(VaekitError, match="--codebook-size is not an option of --model conv"):
        ModelConfig.create((1, 8, 8), family="conv", codebook_size=8)
    with pytest.raises(VaekitError, match=r"^--prior: vqvae's prior is over its codes"):
        ModelConfig.create((1, 8, 8), family="vqvae", prior="mog").validate()
    with pytest.raises(VaekitError, match="--codebook-decay: expected a number in"):
        ModelConfig.create((1, 8, 8), family="vqvae", codebook_decay=1.0).validate()


def test_quantization_picks_the_nearest_code():
    model, _ = _model()
    codes = torch.randn(16, 4)
    model.codebook.codes.copy_(codes)
    z_e = torch.randn(3, 4, 2, 2)
    picked = model.codes_of(z_e)
    vectors = z_e.permute(0, 2, 3, 1).reshape(-1, 4)
    expected = torch.cdist(vectors, codes).argmin(1).view(3, 2, 2)
    assert torch.equal(picked, expected)
    # Decoding a flat z quantizes it: a point near a code decodes as the code itself.
    z_q = model.lookup(picked)
    near = model.decode((z_q + 1e-4 * torch.randn_like(z_q)).flatten(1)).mean
    assert torch.equal(near, model.decode(z_q.flatten(1)).mean)
    assert model.latent_dim == 4 * 2 * 2 and model.posterior_mean(torch.rand(2, 1, 8, 8)).shape == (
        2,
        16,
    )


def test_straight_through_passes_the_reconstructions_gradient_to_the_encoder():
    model, _ = _model()
    x = torch.rand(6, 1, 8, 8)
    out = model.loss(x)
    out.rec.sum().backward()  # the reconstruction alone: no commitment term
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # The gradient at z_e is the one at z_q: the quantization is skipped, not differentiated.
    z_e = model.encode_map(x).detach().requires_grad_(True)
    z_q = model.lookup(model.codes_of(z_e)).detach().requires_grad_(True)
    straight = z_e + (z_q - z_e).detach()
    (-model.likelihood(model.decoder(straight)).log_prob(x).sum()).backward()
    (-model.likelihood(model.decoder(z_q)).log_prob(x).sum()).backward()
    torch.testing.assert_close(z_e.grad, z_q.grad)


def test_the_loss_is_the_uniform_priors_bound_and_the_objective_adds_the_commitment():
    model, _ = _model(commitment=0.5)
    model.eval()
    x = torch.rand(5, 1, 8, 8)
    out = model.loss(x)
    kl = 4 * math.log(16)  # h w log K: 2 x 2 positions, K = 16
    torch.testing.assert_close(out.kl, torch.full((5,), kl))
    torch.testing.assert_close(out.loss, out.rec + out.kl)
    z_e = model.encode_map(x)
    commit = (z_e - model.lookup(model.codes_of(z_e))).pow(2).flatten(1).sum(1)
    torch.testing.assert_close(out.objective, out.rec + 0.5 * commit)


def _started(size: int, dim: int, decay: float) -> Codebook:
    book = Codebook(size, dim, decay)
    book.started.fill_(1)  # past the first update, which starts every code at the batch
    return book


def test_the_moving_average_moves_a_code_to_the_mean_of_its_vectors():
    book = _started(3, 2, decay=0.5)
    book.codes.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]]))
    book.total.copy_(book.codes)
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [4.0, 6.0]])
    chosen = torch.tensor([0, 0, 0, 1])
    book.update(vectors, chosen)
    count = torch.tensor([0.5 + 0.5 * 3, 0.5 + 0.5 * 1, 0.5])
    total = 0.5 * torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    total += 0.5 * torch.tensor([[2.0, 2.0], [4.0, 6.0], [0.0, 0.0]])
    smoothed = (count + LAPLACE) / (count.sum() + 3 * LAPLACE) * count.sum()
    torch.testing.assert_close(book.count, count)
    torch.testing.assert_close(book.codes, total / smoothed[:, None])
    # With decay 0 a code is the mean of this batch's vectors assigned to it.
    book = _started(3, 2, decay=0.0)
    book.update(vectors, chosen)
    torch.testing.assert_close(book.codes[0], torch.tensor([2 / 3, 2 / 3]), atol=1e-4, rtol=0)
    torch.testing.assert_close(book.codes[1], torch.tensor([4.0, 6.0]), atol=1e-4, rtol=0)


def test_a_dead_code_is_restarted_at_an_encoder_output():
    book = _started(4, 2, decay=0.9)
    book.restart_after = 3
    vectors = torch.randn(8, 2) + 10
    chosen = torch.zeros(8, dtype=torch.long)
    before = book.codes[3].clone()
    for _ in range(2):
        book.update(vectors, chosen)
    assert book.idle.tolist() == [0, 2, 2, 2]
    assert not any(torch.equal(book.codes[3], v) for v in vectors)
    book.update(vectors, chosen, torch.Generator().manual_seed(0))
    for k in (1, 2, 3):  # idle for 3 steps: each now holds one of the batch's vectors
        assert any(torch.equal(book.codes[k], v) for v in vectors), k
        assert not torch.equal(book.codes[k], before)
    assert book.idle.tolist() == [0, 0, 0, 0] and book.count[1:].tolist() == [1.0] * 3


def test_the_first_update_starts_every_code_at_the_batch():
    book = Codebook(5, 3, 0.99)
    vectors = torch.randn(20, 3)
    book.update(vectors, book.nearest(vectors), torch.Generator().manual_seed(1))
    assert all(any(torch.equal(code, v) for v in vectors) for code in book.codes)
    assert int(book.started) == 1


def test_save_and_load_give_equal_reconstructions(tmp_path: Path):
    model, config = _model(seed=3)
    model.train()
    model.loss(torch.rand(16, 1, 8, 8))  # a codebook update: the buffers are not the init's
    write_config(tmp_path, {"model": to_dict(config)})
    save_weights(tmp_path, model)
    loaded, loaded_config, _ = load_model(tmp_path)
    assert loaded_config == config
    model.eval()
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(loaded.codebook.codes, model.codebook.codes)
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vq") / "run"
    assert cli("train", "--data", "digits", "--model", "vqvae", "--channels", "8,16",
               "--latent-dim", "4", "--codebook-size", "16", "--epochs", "2", "--out", out,
               "--quiet", "--no-report") == 0  # fmt: skip
    return out


def test_a_run_records_the_family_and_loads(vq_run: Path):
    config = json.loads((vq_run / "config.json").read_text())
    assert config["model"]["family"] == "vqvae"
    assert config["model"]["family_options"] == {"channels": [8, 16], "depth": 2,
                                                 "codebook_size": 16, "commitment": 0.25,
                                                 "codebook_decay": 0.99}  # fmt: skip
    model = vaekit.load(vq_run)
    x = torch.rand(3, 1, 8, 8)
    assert model.reconstruct(x).shape == (3, 1, 8, 8)
    assert float(model.encode(x).std.max()) < 1e-3  # a point posterior


def test_eval_fit_prior_and_sample(vq_run: Path, tmp_path: Path, capsys):
    # Before the code prior: sample refuses in one line; eval gives the uniform prior's bound.
    assert cli("sample", vq_run, "-n", "4", "-o", tmp_path / "s.png") == 1
    err = capsys.readouterr().err
    assert err == f"vaekit: error: vaekit fit-prior {vq_run} trains the code prior sampling needs\n"
    assert not (tmp_path / "s.png").exists()
    assert cli("eval", vq_run, "--iw-samples", "3", "--quiet", "--no-probe") == 0
    out = capsys.readouterr().out
    assert "(bound -log p(x|z_q) + hw log K, uniform prior)" in out and "IWAE" not in out
    report = json.loads((vq_run / "eval.json").read_text())
    rec, prior = (t["nats"] for t in report["bound_terms"])
    assert prior == pytest.approx(4 * math.log(16))
    assert report["iwae"]["nll"] == pytest.approx(rec + prior, rel=1e-6)
    assert report["elbo"]["loss"] == pytest.approx(rec + prior, rel=1e-5)
    assert "-log p(x|z_q)" in out and "the decoder's, at the quantized encoding" in out
    assert report["iwae"]["k"] is None  # no importance sampling: --iw-samples does not apply
    card = (vq_run / "README.md").read_text()  # the model card, rewritten by eval
    assert "hw log K, uniform prior, on the same" in card  # (its | escaped in the table)
    assert "K=3" not in card and "importance-weighted bound with" not in card

    loaded_before = vaekit.load(vq_run)  # (a notebook's model, loaded before fit-prior)
    evaluated_before = vaekit.load(vq_run)
    assert cli("fit-prior", vq_run, "--epochs", "2", "--layers", "2", "--width", "16",
               "--quiet") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"wrote {vq_run / 'code_prior.safetensors'}" in out
    # ... samples from the prior fitted since, without a warning, as a fresh load does
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drawn = loaded_before.sample(3, seed=5)
    assert torch.equal(drawn, vaekit.load(vq_run).sample(3, seed=5))
    assert "code prior" in vaekit.evaluate(evaluated_before, probe=False)["iwae"]["label"]
    record = json.loads((vq_run / "code_prior.json").read_text())
    assert record["network"] == {"codes": 16, "map_size": [2, 2], "width": 16, "layers": 2,
                                 "kernel": 3}  # fmt: skip
    assert record["train_nll"] < record["uniform_nll"]  # it learned which codes are used
    model = vaekit.load(vq_run)  # loading takes the code prior fit-prior saved
    assert model.vae.code_prior is not None
    assert not any(key.startswith("code_prior") for key in model.vae.state_dict())

    assert cli("sample", vq_run, "-n", "6", "-o", tmp_path / "s.png", "--npy",
               tmp_path / "s.npy", "--seed", "2") == 0  # fmt: skip
    assert (tmp_path / "s.png").stat().st_size > 0
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (6, 1, 8, 8) and images.min() >= 0 and images.max() <= 1

    assert cli("eval", vq_run, "--iw-samples", "1", "--quiet", "--no-probe") == 0
    out = capsys.readouterr().out
    assert "(bound -log p(x|z_q) - log p(z_q), code prior)" in out
    report = json.loads((vq_run / "eval.json").read_text())
    rec2, prior2 = (t["nats"] for t in report["bound_terms"])
    assert rec2 == pytest.approx(rec) and prior2 < prior
    assert report["iwae"]["nll"] == pytest.approx(rec2 + prior2, rel=1e-6)


def test_a_code_prior_of_other_weights_is_left_out(vq_run: Path, tmp_path: Path):
    if not (vq_run / "code_prior.json").exists():
        assert cli("fit-prior", vq_run, "--epochs", "1", "--layers", "1", "--width", "8",
                   "--quiet") == 0  # fmt: skip
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "model.safetensors", "code_prior.safetensors"):
        (copy / name).write_bytes((vq_run / name).read_bytes())
    record = json.loads((vq_run / "code_prior.json").read_text())
    (copy / "code_prior.json").write_text(json.dumps({**record, "weights_sha256": "0" * 64}))
    # a stale prior (the model trained on since) is left out with a warning: the model still
    # evaluates, under the uniform prior, and sampling asks for fit-prior again
    with pytest.warns(UserWarning, match="fit to other weights"):
        report = vaekit.evaluate(copy, iw_samples=1, probe=False)
    assert "uniform prior" in report["iwae"]["label"]


def test_a_diverged_code_prior_is_not_saved_and_the_earlier_one_is_kept(vq_run, tmp_path):
    """fit-prior --lr 1e30: NaN weights were saved over a good prior, and sample then ended
    in "a bug in vaekit"; now nothing is written and the earlier prior is kept."""
    copy = tmp_path / "copy"
    shutil.copytree(vq_run, copy)
    with warnings.catch_warnings():  # (a one-epoch prior may not beat the uniform one)
        warnings.simplefilter("ignore")
        assert vaekit.fit_prior(copy, epochs=1, layers=1, width=8)["train_nll"] > 0
    before = {n: (copy / n).read_bytes() for n in ("code_prior.json", "code_prior.safetensors")}
    with pytest.raises(VaekitError, match=r"the code prior diverged .* try a smaller --lr"):
        vaekit.fit_prior(copy, epochs=2, layers=1, width=8, lr=1e30)
    assert {n: (copy / n).read_bytes() for n in before} == before
    assert torch.isfinite(vaekit.load(copy).sample(2, seed=0)).all()
    with pytest.warns(UserWarning, match="worse than the uniform prior"):
        vaekit.fit_prior(copy, epochs=1, layers=1, width=8, lr=1e8)


def test_fit_prior_refuses_a_model_of_continuous_latents(tmp_path: Path):
    conv = ModelConfig.create((1, 8, 8), family="conv", channels=(4,), latent_dim=2)
    write_config(tmp_path, {"model": to_dict(conv)})
    save_weights(tmp_path, build_vae(conv))
    with pytest.raises(VaekitError, match="fit-prior trains a prior over discrete codes"):
        vaekit.fit_prior(tmp_path)


@pytest.mark.parametrize("option", [("--iw-train", "5"), ("--beta", "4"), ("--kl-warmup", "100"),
                                    ("--free-bits", "0.5")])  # fmt: skip
def test_the_options_that_act_on_the_kl_are_refused(tmp_path: Path, capsys, option):
    """The KL of a point posterior over codes is a constant: --iw-train would label the same
    bound importance-weighted, and the others would change nothing."""
    out = tmp_path / "run"
    assert cli("train", "--data", "digits", "--model", "vqvae", "--channels", "8,16",
               "--latent-dim", "4", "--epochs", "1", "--out", out, "--quiet",
               *option) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith(f"vaekit: error: {option[0]}: this model's posterior is a point")
    assert err.count("\n") == 1 and not out.exists()


def test_overwrite_replaces_a_run_with_its_code_prior(vq_run: Path, tmp_path: Path):
    """The code prior's files are vaekit's: --overwrite replaces them with the rest (they
    belonged to the old weights), as it does every file vaekit writes in a run."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(vq_run, copy)
    assert cli("fit-prior", copy, "--epochs", "1", "--layers", "1", "--width", "8",
               "--quiet") == 0  # fmt: skip
    again = ["train", "--data", "digits", "--model", "vqvae", "--channels", "8,16",
             "--latent-dim", "4", "--epochs", "1", "--out", copy, "--quiet",
             "--no-report"]  # fmt: skip
    assert cli(*again) == 1  # not without --overwrite
    assert cli(*again, "--overwrite") == 0
    assert not (copy / "code_prior.safetensors").exists()


def test_the_card_names_the_code_prior_and_a_copy_without_it_warns(vq_run: Path, tmp_path):
    import shutil

    card = (vq_run / "README.md").read_text()
    assert "a prior over its codes (uniform until" in card and "standard-normal" not in card
    assert "the posterior a point" in card and "one posterior sample" not in card
    assert "code_prior.json, code_prior.safetensors, once written" in card
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(vq_run / name, copy / name)
    model = vaekit.load(copy)
    with pytest.warns(UserWarning, match="drawn from the uniform prior over codes"):
        model.sample(2, seed=0)


def test_an_objective_on_the_kl_is_refused(tmp_path: Path, capsys):
    out = tmp_path / "run"
    assert cli("train", "--data", "digits", "--model", "vqvae", "--channels", "8,16",
               "--latent-dim", "4", "--epochs", "1", "--out", out, "--quiet", "--objective",
               "tcvae") == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "--objective tcvae needs draws of a Gaussian posterior" in err and not out.exists()


@pytest.mark.filterwarnings("ignore:the code prior")  # (one epoch may not beat the uniform)
def test_fit_prior_takes_the_data_where_it_has_moved(tmp_path: Path, capsys):
    """The moved-data message says "give its new place with --data", which fit-prior lacked."""
    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "digits.npy", images)
    run = tmp_path / "run"
    assert cli("train", "--data", tmp_path / "digits.npy", "--model", "vqvae", "--channels",
               "8,16", "--latent-dim", "4", "--codebook-size", "8", "--epochs", "1", "--out",
               run, "--quiet", "--no-report") == 0  # fmt: skip
    moved = tmp_path / "moved.npy"
    (tmp_path / "digits.npy").rename(moved)
    small = ["--epochs", "1", "--layers", "1", "--width", "8", "--quiet"]
    capsys.readouterr()
    assert cli("fit-prior", run, *small) == 1
    assert "give its new place with --data PATH" in capsys.readouterr().err
    assert cli("fit-prior", run, *small, "--data", moved) == 0
    assert (run / "code_prior.safetensors").exists()
