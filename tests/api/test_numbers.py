"""Every number says what it is: -ELBO and -IWAE_K side by side, conditional likelihoods named,
one estimator for the test line and `vaekit eval`, nothing non-finite written silently."""

import json
import math
from pathlib import Path

import pytest

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_idx_folder
from vaekit.api.evaluate import not_finite
from vaekit.api.run import read_metrics
from vaekit.errors import VaekitError

TINY = dict(model="mlp", hidden_dims=(16,), latent_dim=3, batch_size=32, progress=False)


def lines(run: Path) -> list[dict]:
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_idx_folder(tmp_path_factory.mktemp("idx") / "idx", n_train=120, n_test=30)


def test_the_test_line_and_eval_agree_at_one_sample(tmp_path: Path, data: Path):
    run = vaekit.train(data, out=tmp_path / "run", epochs=2, seed=4, **TINY)
    final = lines(run.path)[-1]
    assert final["loss_is"] == "neg_elbo" and final["test"]["loss"] == final["test"]["neg_elbo"]
    for batch_size in (128, 7):  # the noise is keyed per example, not per batch
        report = vaekit.evaluate(run.path, iw_samples=1, batch_size=batch_size, probe=False)
        assert report["elbo"]["loss"] == pytest.approx(final["test"]["neg_elbo"], abs=1e-4)
        assert report["elbo"]["kl"] == pytest.approx(final["test"]["kl"], abs=1e-4)
    other_seed = vaekit.evaluate(run.path, iw_samples=1, seed=5, probe=False)
    assert other_seed["elbo"]["rec"] != pytest.approx(final["test"]["rec"], abs=1e-6)


def test_an_iwae_run_names_both_bounds(tmp_path: Path, data: Path, capsys):
    out = tmp_path / "iw"
    flags = ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "3", "--epochs", "2"]
    assert cli("train", "--data", data, *flags, "--iw-train", "3", "--out", out, "--quiet") == 0
    printed = capsys.readouterr().out
    assert "-IWAE(K=3)" in printed and "training minimized -IWAE(K=3)" in printed
    assert "val and test -ELBO: one sample per example" in printed
    records = lines(out)
    for record in records:
        assert record["loss_is"] == "neg_iwae"
        for split in ("train", "val", "test"):
            if split in record:
                terms = record[split]
                assert terms["iwae_k"] == 3 and terms["loss"] == terms["neg_iwae"]
                assert terms["neg_elbo"] == pytest.approx(terms["rec"] + terms["kl"])
                assert terms["neg_iwae"] != pytest.approx(terms["neg_elbo"], abs=1e-6)
    test = records[-1]["test"]
    report = vaekit.evaluate(out, iw_samples=3, probe=False)
    assert report["iwae"]["nll"] == pytest.approx(test["neg_iwae"], abs=1e-4)
    # The test line's -ELBO is the one-sample estimate that `vaekit eval --iw-samples 1`
    # gives, not the mean over the K samples of the bound (a different estimate).
    one = vaekit.evaluate(out, iw_samples=1, probe=False)
    assert one["elbo"]["loss"] == pytest.approx(test["neg_elbo"], abs=1e-4)
    assert one["elbo"]["rec"] == pytest.approx(test["rec"], abs=1e-4)
    assert report["elbo"]["rec"] != pytest.approx(test["rec"], abs=1e-4)


def test_a_conditional_model_says_its_numbers_are_given_the_label(
    tmp_path: Path, data: Path, capsys
):
    out = tmp_path / "cvae"
    flags = ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "2", "--epochs", "1"]
    assert cli("train", "--data", data, *flags, "--conditional", "--out", out, "--quiet") == 0
    assert "conditional on the label" in capsys.readouterr().out
    assert cli("eval", out, "--iw-samples", "2", "--quiet") == 0
    table = capsys.readouterr().out
    assert "conditional on the label, -log p(x|y)" in table and "objective given the label" in table
    report = json.loads((out / "eval.json").read_text())
    assert report["conditional_on_label"] is True
    assert "features are computed from the label" in report["probe"]["skipped"]
    assert "accuracy" not in report["probe"]
    # report.html said so of the IWAE row alone: its subtitle, the last epoch's table and the
    # Evaluation table's note bound -log p(x|y) too
    assert cli("report", out) == 0
    page = (out / "report.html").read_text()
    assert "; test -ELBO given the label " in page
    assert "(epoch 1; conditional on the label: -log p(x|y))" in page
    assert "examples; the numbers are an objective of 8-bit pixels, conditional on the label: " \
           "-log p(x|y)" in page  # fmt: skip
    # beside a run that is not conditional, the compare page warns
    plain = tmp_path / "vae"
    assert cli("train", "--data", data, *flags, "--out", plain, "--quiet") == 0
    assert cli("compare", out, plain, "-o", tmp_path / "c.html") == 0
    compared = (tmp_path / "c.html").read_text()
    assert "cvae is conditional on the label: its figures bound -log p(x|y), the others&#x27; " \
           "-log p(x)" in compared  # fmt: skip


def test_non_finite_numbers_are_named_and_warned_about(
    tmp_path: Path, data: Path, monkeypatch, capsys
):
    report = {"elbo": {"loss": math.nan}, "latents": {"kl": [1.0, math.inf]}}
    report["reconstruction"] = {"psnr_db": math.inf}  # a perfect reconstruction: true value
    assert not_finite(report) == ["elbo.loss", "latents.kl[1]"]

    import vaekit.api.evaluate as api_evaluate

    run = vaekit.train(data, out=tmp_path / "run", epochs=1, **TINY)
    real = api_evaluate.evaluate_vae

    def broken(*args, **kwargs):
        numbers, means = real(*args, **kwargs)
        numbers["iwae"]["nll"] = math.nan
        return numbers, means

    monkeypatch.setattr(api_evaluate, "evaluate_vae", broken)
    assert cli("eval", run.path, "--iw-samples", "2", "--no-probe", "--quiet") == 0
    assert "vaekit: warning: iwae.nll is not a finite number" in capsys.readouterr().err
    written = json.loads((run.path / "eval.json").read_text())
    assert written["iwae"]["nll"] is None and written["not_finite"] == ["iwae.nll"]
    card = (run.path / "README.md").read_text()  # the model card says so, and does not crash
    assert "not a finite number" in card


def test_only_the_last_line_of_metrics_may_be_cut(tmp_path: Path, data: Path):
    run = vaekit.train(data, out=tmp_path / "run", epochs=2, **TINY)
    path = run.path / "metrics.jsonl"
    text = path.read_text()
    path.write_text(text + '{"epoch": 3, "tr')  # a kill while appending
    assert len(read_metrics(run.path)) == 3
    first, *rest = text.splitlines()
    path.write_text("\n".join([first[:20], *rest]) + "\n")
    with pytest.raises(VaekitError, match=r"metrics\.jsonl: line 1 is damaged"):
        read_metrics(run.path)
    with pytest.raises(VaekitError, match="line 1 is damaged"):
        vaekit.resume(run.path, epochs=3, progress=False)


@pytest.mark.parametrize("epoch", ['"x"', "null", "-1", "1.5", "true"])
def test_a_record_with_no_epoch_number_is_one_line_for_report_and_compare(
    tmp_path: Path, data: Path, capsys, epoch: str
):
    from tests.cli.test_cli import vaekit as cli

    run = vaekit.train(data, out=tmp_path / "run", epochs=1, **TINY)
    path = run.path / "metrics.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([f'{{"epoch": {epoch}}}', *lines]) + "\n")  # edited by hand
    for args in (("report", run.path, "--data", data), ("compare", run.path, run.path, "-o",
                                                        tmp_path / "c.html")):  # fmt: skip
        assert cli(*args) == 1
        err = capsys.readouterr().err
        shown = {'"x"': "'x'", "null": "None", "true": "True"}.get(epoch, epoch)
        assert f"metrics.jsonl: line 1's epoch is {shown}, not an epoch number" in err
        assert err.count("\n") == 1, err
