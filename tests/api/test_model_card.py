"""The model card (RUNDIR/README.md, vaekit.report.card), the minimal folder it makes
shareable (config.json, model.safetensors, README.md), and the notebook summaries
(`_repr_html_`) and progress bars."""

import json
import shutil
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.api.card import write_model_card
from vaekit.api.evaluate import record_eval
from vaekit.api.rundir import foreign_files
from vaekit.errors import VaekitError
from vaekit.report.card import BESIDE_FILE, CARD_FILE, MARKER, is_vaekit_card

yaml = pytest.importorskip("yaml")

TINY = {"model": "mlp", "hidden_dims": (16,), "latent_dim": 2, "epochs": 1, "report": False,
        "progress": False}  # fmt: skip
SHARED = ("config.json", "model.safetensors", "README.md")


@pytest.fixture(scope="module")
def gray_run(tmp_path_factory) -> Path:
    """Digits (17 gray levels, 0..16) under a Bernoulli likelihood: no likelihood of them."""
    out = tmp_path_factory.mktemp("card") / "gray"
    return vaekit.train("digits", out=out, **TINY).path


def _split(card: str) -> tuple[dict, str]:
    """(the front matter, read as YAML; the Markdown after it)."""
    assert card.startswith("---\n")
    head, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def _card(run: Path) -> tuple[dict, str]:
    return _split((run / CARD_FILE).read_text(encoding="utf-8"))


def test_training_writes_a_card_with_the_data_and_its_checksum(gray_run: Path):
    meta, body = _card(gray_run)
    data = json.loads((gray_run / "config.json").read_text())["data"]
    assert meta["library_name"] == "vaekit" and meta[MARKER] == 1
    assert meta["datasets"] == ["digits"] and meta["data_sha256"] == data["sha256"]
    assert "neg_elbo" in meta["metrics"] and "mlp" in meta["tags"]
    assert f"sha256 `{data['sha256']}`" in body
    assert "1,455 training, 162 validation, 180 test" in body
    assert "| --seed | 0 |" in body and "Z=2 (hidden dims 16)" in body
    assert is_vaekit_card(gray_run / CARD_FILE)


def test_the_card_names_each_bound_and_its_examples(gray_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(gray_run, run)
    final = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    _, body = _card(run)
    line = next(x for x in body.splitlines() if x.startswith("| test -ELBO |"))
    assert f"| {final['test']['neg_elbo']:.2f} |" in line
    rec, kl = final["test"]["rec"], final["test"]["kl"]
    assert f"-ELBO (reconstruction {rec:.2f} + KL {kl:.2f}) at the end of training" in line
    assert "on the 180 examples of the test split, one posterior sample each" in line
    assert "IWAE" not in body.split("## Evaluation")[1].split("## Intended")[0]

    report = vaekit.evaluate(run, iw_samples=3, max_examples=40, probe=False)
    assert record_eval(run, report, run / "eval.json") == run / CARD_FILE
    _, body = _card(run)
    iwae = next(x for x in body.splitlines() if x.startswith("| objective (IWAE, K=3) |"))
    assert f"| {report['iwae']['nll']:.2f} ± {report['iwae']['stderr']:.2f} |" in iwae
    assert "K=3 samples per example, on the same 40 examples" in iwae
    elbo = next(x for x in body.splitlines() if x.startswith("| -ELBO (vaekit eval) |"))
    assert "40 examples of the test split of digits (a seeded subset of 40)" in elbo
    assert f"| {report['elbo']['loss']:.2f} ± {report['elbo']['stderr']:.2f} |" in elbo
    assert "run vaekit eval again" not in body
    # Figures of other weights than the run's now: said to be stale, on each of their rows.
    record_eval(run, {**report, "weights_sha256": "0" * 64}, run / "eval.json")
    _, body = _card(run)
    rows = [x for x in body.splitlines() if x.startswith(("| -ELBO (vaekit", "| objective"))]
    assert len(rows) == 2 and all("run vaekit eval again" in x for x in rows)
    # Written elsewhere (--json FILE), the report leaves the run's card alone.
    before = (run / CARD_FILE).read_text()
    assert record_eval(run, {**report, "elbo": {"loss": 1.0}}, tmp_path / "x.json") is None
    assert (run / CARD_FILE).read_text() == before


def test_a_bernoulli_model_of_gray_pixels_is_no_likelihood(gray_run: Path, tmp_path: Path):
    _, gray = _card(gray_run)
    limits = gray.split("## Limitations")[1].split("## How to use")[0]
    assert "bernoulli likelihood is a distribution over binary values" in limits
    assert "discrete (0..16)" in limits and "gray pixels" in limits
    assert "it is not a likelihood of the data" in limits
    assert "no bound on the data's log-likelihood (see Limitations)" in gray
    # Binarized, the same data is binary: the Bernoulli is its likelihood.
    binary = vaekit.train("digits", out=tmp_path / "bin", binarize=True, **TINY).path
    _, body = _card(binary)
    assert "not a likelihood of the data" not in body
    assert "an upper bound on -log p(x)" in body and "binarized data" in body


def test_the_anomaly_threshold_says_its_false_positive_rate(gray_run: Path, tmp_path: Path):
    from vaekit.api.anomaly import AnomalyDetector

    run = tmp_path / "run"
    shutil.copytree(gray_run, run)
    _, body = _card(run)
    assert "No anomaly threshold is calibrated" in body
    model = vaekit.load(run)
    AnomalyDetector(model, quantile=0.95).fit(max_examples=50).save(run)
    write_model_card(run, model)
    _, body = _card(run)
    assert "is the 0.95 quantile of the scores of 50 validation examples" in body
    assert "it flags about 5% of inputs like the training data" in body


def test_the_three_files_load_and_work_from_anywhere(gray_run: Path, tmp_path: Path):
    shared = tmp_path / "elsewhere" / "shared-model"
    shared.mkdir(parents=True)
    for name in SHARED:
        shutil.copy(gray_run / name, shared)
    model, original = vaekit.load(shared), vaekit.load(gray_run)
    assert torch.equal(model.sample(4, seed=3), original.sample(4, seed=3))
    x = np.random.default_rng(0).integers(0, 17, (3, 8, 8))
    assert torch.equal(model.reconstruct(x), original.reconstruct(x))
    assert model.elbo(x).loss.shape == (3,)
    # Its registered data is found by name: evaluating needs no other file.
    report = vaekit.evaluate(shared, iw_samples=2, max_examples=10, probe=False)
    assert report["data"] == "digits" and report["split_size"] == 180
    # Its card, rewritten there (as eval and report do), has no training record to count the
    # epochs from: it says so, where it said "trained ... for 0 epochs".
    write_model_card(shared, model)
    _, body = _card(shared)
    assert "for 0 epochs" not in body and "| epochs trained | 0 of" not in body
    assert "(its training record, metrics.jsonl, is not beside it:" in body
    assert "| epochs trained | not recorded here (no metrics.jsonl);" in body


def test_a_shared_model_of_an_array_says_in_one_line_that_it_needs_the_data(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (80, 6, 6), dtype=np.uint8)
    run = vaekit.train(images, out=tmp_path / "run", batch_size=16, **TINY).path
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in SHARED:
        shutil.copy(run / name, shared)
    assert vaekit.load(shared).sample(2).shape == (2, 1, 6, 6)
    with pytest.raises(VaekitError) as err:
        vaekit.evaluate(shared, iw_samples=2, probe=False)
    assert "give the data" in str(err.value) and "\n" not in str(err.value)
    _, body = _card(shared)
    assert "Data: an in-memory array" in body


def test_a_users_readme_is_kept_and_the_card_goes_beside_it(gray_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(gray_run, run)
    assert CARD_FILE not in foreign_files(run)  # vaekit's card: --overwrite may replace it
    (run / CARD_FILE).write_text("# my notes\n")
    assert write_model_card(run, vaekit.load(run)) == run / BESIDE_FILE
    assert (run / CARD_FILE).read_text() == "# my notes\n"
    assert is_vaekit_card(run / BESIDE_FILE)
    assert foreign_files(run) == [CARD_FILE]  # the user's: --overwrite refuses to remove it
    (run / CARD_FILE).unlink()
    assert write_model_card(run, vaekit.load(run)) == run / CARD_FILE
    assert not (run / BESIDE_FILE).exists()


HOSTILE = '<script>alert("x")</script>\n| a: b'


def test_notebook_summaries_show_the_figures_and_escape_the_runs_strings(
    gray_run: Path, tmp_path: Path
):
    run = tmp_path / "run"
    shutil.copytree(gray_run, run)
    config = json.loads((run / "config.json").read_text())
    config["data"]["name"] = HOSTILE
    (run / "config.json").write_text(json.dumps(config))
    model = vaekit.load(run)
    page = model._repr_html_()
    final = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert f"<td>{final['test']['neg_elbo']:.2f}</td>" in page and "test -ELBO" in page
    assert '<img class="pixels" src="data:image/png;base64,' in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    # The card escapes it too, and its front matter reads the name back as it was.
    write_model_card(run, model)
    meta, body = _card(run)
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert meta["weights_sha256"] == model.weights_sha256


def test_a_runs_summary_shows_its_test_figures(gray_run: Path):
    run = vaekit.train("digits", out=gray_run.parent / "again", seed=1, **TINY)
    page = run._repr_html_()
    assert f"<td>{run.test['neg_elbo']:.2f}</td>" in page and "<img" in page
    assert "<strong>again</strong>" in page and "1 of 1" in page


def _notebook(monkeypatch, widgets: bool) -> None:
    """Make tqdm.auto choose afresh as if in Jupyter, with or without ipywidgets."""
    shell = type("ZMQInteractiveShell", (), {})()
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("zmqshell"))
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell
    display = types.ModuleType("IPython.display")
    display.display = lambda *a, **k: None
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    if widgets:
        fake = types.ModuleType("ipywidgets")
        for name in ("HTML", "FloatProgress", "HBox"):
            setattr(fake, name, type(name, (), {}))
        monkeypatch.setitem(sys.modules, "ipywidgets", fake)
    else:
        monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    import tqdm

    # tqdm.auto chooses once, on import: import it afresh here, and put back afterwards both
    # what sys.modules held and the package's attributes (monkeypatch undoes both).
    for name in ("auto", "autonotebook", "notebook"):
        monkeypatch.setitem(sys.modules, f"tqdm.{name}", None)
        monkeypatch.delitem(sys.modules, f"tqdm.{name}")
        monkeypatch.setattr(tqdm, name, None, raising=False)
        monkeypatch.delattr(tqdm, name)


@pytest.mark.parametrize("widgets", [True, False])
def test_progress_bars_take_the_notebook_form_where_widgets_are(monkeypatch, widgets: bool):
    from vaekit.progress import bar_class

    _notebook(monkeypatch, widgets)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = bar_class()
    assert not [w for w in caught if "IProgress" in str(w.message)]  # falling back is meant
    forms = {c.__module__ for c in chosen.__mro__}
    assert ("tqdm.notebook" in forms) == widgets and "tqdm.std" in forms


@pytest.mark.parametrize(("variance", "said"), [("fixed", True), ("global", False),
                                                 ("pixel", False)])  # fmt: skip
def test_a_fixed_gaussian_spread_is_named_only_where_it_is_fixed(tmp_path, variance, said):
    """A table's likelihood keeps --gaussian-std as its starting spread: its card said "a
    fixed standard deviation of 1" for a learned (global, per-value) one."""
    rng = np.random.default_rng(0)
    rows = "\n".join(f"{rng.normal():.4f},{rng.normal():.4f}" for _ in range(120))
    (tmp_path / "t.csv").write_text("a,b\n" + rows + "\n")
    out = tmp_path / variance
    vaekit.train(tmp_path / "t.csv", out=out, gaussian_variance=variance, **TINY)
    card = (out / CARD_FILE).read_text()
    assert ("fixed standard deviation" in card) is said, card
    # and, whatever its spread, that its densities are of standardized values (eval says so)
    limits = card.split("## Limitations")[1]
    assert "densities of the numeric columns as standardized values" in limits


def test_a_conditional_models_eval_rows_say_given_the_label(tmp_path):
    run = vaekit.train("digits", out=tmp_path / "c", conditional=True, binarize=True, **TINY)
    record_eval(run.path, vaekit.evaluate(run.path, iw_samples=2, probe=False),
                run.path / "eval.json")  # fmt: skip
    card = (run.path / CARD_FILE).read_text()
    rows = [line for line in card.splitlines() if "(vaekit eval)" in line]
    assert rows and all("-log p(x given the label)" in row for row in rows if "bound" in row)
    assert "-log p(x)" not in "".join(rows)


def test_a_finished_run_without_finite_test_figures_says_so(gray_run: Path, tmp_path: Path):
    """A run whose test -ELBO is not a finite number (null in metrics.jsonl) has finished:
    its card does not say it has not."""
    import shutil

    run = tmp_path / "inf"
    shutil.copytree(gray_run, run)
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    lines[-1]["test"] = {**lines[-1]["test"], "neg_elbo": None, "rec": None, "kl": None}
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    from tests.cli.test_cli import vaekit as cli

    assert cli("report", run, "--quiet") == 0
    card = (run / "README.md").read_text()
    assert "The test figures at the end of training are not finite numbers" in card
    assert "has not finished" not in card
