"""report.html and the compare page: self-contained, every section there or saying why not,
and numbers that are the run's own."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz
from vaekit.api.report import REPORT_FILE, write_report
from vaekit.report.html import flatten, number

FROZEN = Path(__file__).resolve().parents[1] / "frozen" / "run-v1"
TINY = dict(model="mlp", hidden_dims=(32,), epochs=2, batch_size=32, progress=False)


class Page(HTMLParser):
    """The parts of a page the tests read: sections (id -> text), images, any tag that would
    load something from elsewhere, the subtitle, and each section's tables (their rows of
    cell texts, the header row first)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.images: dict[str, list[str]] = {}
        self.external: list[str] = []
        self.tables: dict[str, list[list[list[str]]]] = {}
        self.subtitle = ""
        self._section: str | None = None
        self._cell: str | None = None
        self._in_subtitle = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = a["id"]
            self.sections[self._section] = ""
            self.images[self._section] = []
        if tag == "img":
            self.images.setdefault(self._section or "", []).append(a["src"])
        if tag in ("script", "link", "iframe") or any(
            v and v.startswith(("http:", "https:", "//")) for v in a.values()
        ):
            self.external.append(tag)
        if tag == "table":
            self.tables.setdefault(self._section or "", []).append([])
        if tag == "tr":
            self.tables[self._section or ""][-1].append([])
        if tag in ("td", "th"):
            self._cell = ""
        self._in_subtitle = tag == "p" and a.get("class") == "sub"

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._section or ""][-1][-1].append(self._cell.strip())
            self._cell = None
        if tag == "p":
            self._in_subtitle = False

    def handle_data(self, data):
        if self._section:
            self.sections[self._section] += data
        if self._cell is not None:
            self._cell += data
        if self._in_subtitle:
            self.subtitle += data

    def cells(self, section: str, label: str, table: int = 0) -> dict[str, str]:
        """One row of a section's table, the row whose first cell is `label`: its cells by
        their column's header."""
        header, *rows = self.tables[section][table]
        (row,) = [r for r in rows if r[0] == label]
        return dict(zip(header, row, strict=True))


def assert_shown(page: Page, *anchors: str) -> None:
    """Each section is on the page and drawn, not replaced by the reason it is missing (a
    section whose builder fails keeps its title: a title alone proves nothing)."""
    for anchor in anchors:
        assert anchor in page.sections, (anchor, list(page.sections))
        assert "Not shown" not in page.sections[anchor], page.sections[anchor]


def png(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def read_page(path: Path) -> Page:
    text = path.read_text()
    assert "http://" not in text and "https://" not in text
    page = Page(text)
    assert page.external == []  # one file: nothing to fetch
    for uris in page.images.values():
        for uri in uris:
            png(uri).load()
    return page


@pytest.fixture(scope="module")
def array_run(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 2-D latent space trained on an in-memory array: its report is written by train."""
    import vaekit

    folder = tmp_path_factory.mktemp("report")
    with np.load(write_npz(folder / "d.npz", n=300, size=8)) as f:
        images = f["images"]
    vaekit.train(images, latent_dim=2, out=folder / "z2", **TINY)
    return folder / "z2", images


@pytest.fixture(scope="module")
def npz(tmp_path_factory) -> Path:
    return write_npz(tmp_path_factory.mktemp("data") / "d.npz", n=300, size=8)


def test_train_writes_a_self_contained_report(array_run):
    path, _ = array_run
    page = read_page(path / REPORT_FILE)
    present = ["configuration", "loss-curves", "samples", "reconstructions", "interpolation",
               "latent-traversal", "kl-per-latent-dimension", "latent-map", "manifold"]  # fmt: skip
    for anchor in present:
        assert "Not shown" not in page.sections[anchor], anchor
        if anchor != "configuration":
            assert page.images[anchor], anchor
    assert "no eval.json yet" in page.sections["evaluation"]
    assert "the posterior means themselves (Z = 2)" in page.sections["latent-map"]
    # Each dimension's KL is named: bars by index, and the caption's figures as z_i.
    assert re.search(r"the largest: z[01] \d+\.\d{3}, z[01] \d+\.\d{3}", page.sections[
        "kl-per-latent-dimension"])  # fmt: skip
    manifold = png(page.images["manifold"][0])
    assert manifold.size[0] == manifold.size[1] == 15 * 56  # 15 x 15 decoded 8x8 images
    metrics = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert f"{metrics[-1]['test']['neg_elbo']:.2f}" in page.sections["loss-curves"]
    assert number(metrics[-2]["val"]["kl"]) in page.sections["loss-curves"]


def test_a_run_without_its_data_says_which_pictures_need_it(array_run):
    path, images = array_run
    page = read_page(write_report(path))
    for anchor in ("reconstructions", "interpolation", "latent-map"):
        assert "in-memory array: give the data" in page.sections[anchor], anchor
    assert "Not shown" not in page.sections["samples"]  # samples need no data
    page = read_page(write_report(path, data=images))
    assert "Not shown" not in page.sections["latent-map"]


def test_data_given_by_name_must_be_read_and_fit_or_the_report_is_left_alone(
    array_run, tmp_path, capsys
):
    path, images = array_run
    run = tmp_path / "run"
    shutil.copytree(path, run)
    np.save(tmp_path / "images.npy", images)
    assert cli("report", run, "--data", tmp_path / "images.npy", "--quiet") == 0
    before = (run / REPORT_FILE).read_bytes()
    np.save(tmp_path / "big.npy", np.zeros((20, 16, 16), dtype=np.uint8))
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(40)))
    for wrong, said in (("digts", "unknown dataset 'digts'"),  # a typo
                        (tmp_path / "t.csv", "a table; this model was trained on images"),
                        (tmp_path / "big.npy", "big.npy")):  # images of another size  # fmt: skip
        assert cli("report", run, "--data", wrong) == 1
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err
        assert (run / REPORT_FILE).read_bytes() == before  # not a page of "Not shown"


def test_the_eval_table_comes_from_eval_json(array_run, tmp_path):
    path, images = array_run
    run = tmp_path / "run"
    shutil.copytree(path, run)
    np.save(tmp_path / "images.npy", images)
    assert cli("eval", run, "--data", tmp_path / "images.npy", "--iw-samples", "8") == 0
    numbers = json.loads((run / "eval.json").read_text())
    page = read_page(write_report(run, data=images, map_method="tsne"))
    text = page.sections["evaluation"]
    assert "Not shown" not in text
    assert f"{numbers['iwae']['nll']:,.2f}" in text and "IWAE, K=8" in text
    assert f"{numbers['elbo']['loss']:,.2f}" in text
    assert "t-SNE of the posterior means" in page.sections["latent-map"]


def test_a_conditional_model_shows_what_applies_and_says_why_the_rest_is_missing(npz, tmp_path):
    import vaekit

    run = vaekit.train(npz, conditional=True, prior="mog", latent_dim=3, out=tmp_path / "c",
                       report=False, **TINY)  # fmt: skip
    assert not (run.path / REPORT_FILE).exists()
    page = read_page(write_report(run.path))
    assert "row r is class" in page.sections["samples"] and page.images["samples"]
    assert "Not shown" not in page.sections["reconstructions"]
    for anchor in ("interpolation", "latent-traversal", "latent-map"):
        assert "works on unconditional models; this one is conditional" in page.sections[anchor]
    assert (
        "mog prior has no closed-form KL per dimension" in page.sections["kl-per-latent-dimension"]
    )
    assert "manifold" not in page.sections  # Z = 3


def test_a_hierarchical_model_has_no_traversal_but_the_rest(npz, tmp_path):
    import vaekit

    run = vaekit.train(npz, model="hvae", layers=2, latent_dim=2, hidden_dims=(32,), epochs=2,
                       batch_size=32, progress=False, out=tmp_path / "h", report=False)  # fmt: skip
    page = read_page(write_report(run.path))
    assert "one-layer model with the standard-normal prior" in page.sections["latent-traversal"]
    for anchor in ("interpolation", "kl-per-latent-dimension", "latent-map"):
        assert "Not shown" not in page.sections[anchor], anchor
    assert "principal components" in page.sections["latent-map"]  # Z = 4 in all
    assert "4 dimensions" in page.sections["kl-per-latent-dimension"]
    assert "manifold" not in page.sections


def test_an_old_run_with_loss_rec_kl_records(tmp_path):
    run = tmp_path / "old"
    shutil.copytree(FROZEN, run)
    assert cli("report", run) == 0
    page = read_page(run / REPORT_FILE)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    test = records[-1]["test"]  # no neg_elbo in a schema 1 record: -ELBO = rec + kl
    assert "neg_elbo" not in test
    assert f"{test['rec'] + test['kl']:.2f}" in page.sections["loss-curves"]
    assert "Not shown" not in page.sections["loss-curves"]


def test_no_report_and_resume(npz, tmp_path):
    out = tmp_path / "r"
    flags = ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "2", "--quiet"]
    assert cli("train", "--data", npz, *flags, "--epochs", "1", "--out", out, "--no-report") == 0
    assert not (out / REPORT_FILE).exists()
    assert cli("train", "--out", out, "--resume", "--epochs", "2", "--quiet") == 0
    assert not (out / REPORT_FILE).exists()  # the run's recorded choice holds on resume
    assert cli("train", "--out", out, "--resume", "--epochs", "3", "--report", "--quiet") == 0
    page = read_page(out / REPORT_FILE)
    assert "; 3 epochs" in (out / REPORT_FILE).read_text()  # the summary line
    assert "Not shown" not in page.sections["loss-curves"]


def test_compare_puts_runs_side_by_side(array_run, npz, tmp_path, capsys):
    import vaekit

    other = vaekit.train(npz, latent_dim=4, out=tmp_path / "z4", report=False, **TINY).path
    old = tmp_path / "old"
    shutil.copytree(FROZEN, old)
    out = tmp_path / "cmp.html"
    assert cli("compare", array_run[0], other, old, "-o", out) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0].split()[:3] == ["run", "epochs", "train"]
    assert [line.split()[0] for line in lines[1:4]] == ["z2", "z4", "old"]
    assert "model.latent_dim" in printed and "data.name" in printed
    page = read_page(out)
    assert len(page.images["samples"]) == 3 and page.images["loss-curves"]
    differences = page.sections["configuration-differences"]
    assert "model.latent_dim" in differences and "training.seed" in differences
    assert "data.sha256" not in differences  # differs, but says nothing
    assert cli("compare", other, "-o", out) == 1
    assert cli("compare", other, old, "-o", tmp_path / "cmp.txt") == 1


def test_compare_says_a_run_without_its_metrics_is_unknown_not_zero(array_run, tmp_path, capsys):
    """A run whose metrics.jsonl is gone was shown as 0 epochs in 0.00 s."""
    bare = tmp_path / "bare"
    shutil.copytree(array_run[0], bare)
    (bare / "metrics.jsonl").unlink()
    assert cli("compare", array_run[0], bare, "-o", tmp_path / "cmp.html") == 0
    captured = capsys.readouterr()
    row = next(line.split() for line in captured.out.splitlines() if line.startswith("bare"))
    assert row == ["bare"] + ["-"] * 7, row
    assert "bare has no record of its epochs (metrics.jsonl)" in captured.err


def write_eval(run: Path, kind: str, k: int, nll: float, weights: str | None = None) -> None:
    """An eval.json as `vaekit eval` writes it (the keys compare reads), judging `weights`
    (default: the run's own)."""
    from vaekit.models.io import weights_sha256

    found = {"kind": kind, "conditional_on_label": False, "data": "d", "split": "test",
             "num_examples": 30, "weights_sha256": weights or weights_sha256(run),
             "elbo": {"loss": nll + 2, "rec": nll, "kl": 2.0, "stderr": 0.5},
             "iwae": {"k": k, "nll": nll, "stderr": 0.5}}  # fmt: skip
    (run / "eval.json").write_text(json.dumps(found))


def test_each_figure_is_in_its_labelled_row_and_column_of_the_report_and_compare(
    array_run, tmp_path
):
    """The tables read by their headers and row labels: every number where its label says,
    not its neighbour's (an eval.json whose figures all differ; a run that kept its best
    epoch's weights, --patience), on report.html and on the compare page."""
    from vaekit.api.compare import compare_runs
    from vaekit.api.report import eval_section, open_run
    from vaekit.models.io import weights_sha256
    from vaekit.report.comparison import STALE, eval_row

    path, _ = array_run
    run, twin = tmp_path / "p", tmp_path / "q"
    shutil.copytree(path, run)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    *epochs, final = [json.loads(line) for line in lines]
    final["best_epoch"] = 1  # as early stopping records it (of 2 epochs)
    (run / "metrics.jsonl").write_text("\n".join([*lines[:-1], json.dumps(final)]) + "\n")
    shutil.copytree(run, twin)
    found = {"kind": "log-likelihood", "conditional_on_label": False, "data": "d",
             "split": "test", "num_examples": 30, "weights_sha256": weights_sha256(run),
             "elbo": {"loss": 101.25, "rec": 88.5, "kl": 12.75, "stderr": 0.625},
             "iwae": {"k": 8, "nll": 99.5, "stderr": 0.375},
             "bits_per_dim": {"elbo": 1.2345, "iwae": 1.1111}}  # fmt: skip
    for folder in (run, twin):
        (folder / "eval.json").write_text(json.dumps(found))
    page = read_page(write_report(run))
    test, last = final["test"], epochs[-1]
    assert page.subtitle.endswith(f"; 2 epochs; test -ELBO {test['neg_elbo']:.2f} nats per example")
    # The final numbers: the last epoch's train and validation terms, and the test line of
    # the best epoch's weights, which the caption names.
    for split, terms in (("train", last["train"]), ("validation", last["val"]), ("test", test)):
        assert page.cells("loss-curves", split) == {
            "split": split,
            "-ELBO": number(terms["neg_elbo"]),
            "reconstruction": number(terms["rec"]),
            "KL": number(terms["kl"]),
        }
    assert "(epoch 2; test on the best validation epoch, 1)" in page.sections["loss-curves"]
    # The evaluation: each bound with its own stderr, each term, bits/dim of the IWAE bound.
    shown = {
        label: page.cells("evaluation", label)
        for label in ("-ELBO", "distortion (rec)", "rate (KL)", "NLL (IWAE, K=8)", "bits/dim")
    }
    assert [(c["value"], c["± stderr"]) for c in shown.values()] == [
        ("101.25", "0.625"), ("88.50", "-"), ("12.75", "-"), ("99.50", "0.375"), ("1.11", "-")
    ]  # fmt: skip
    assert shown["bits/dim"]["note"] == "ELBO: 1.2345"
    assert "run vaekit eval again" not in page.sections["evaluation"]  # of these weights
    # The compare page: the same figures under its own headers.
    result = compare_runs([run, twin], tmp_path / "c.html")
    assert result.eval_rows[0] == ["p", "NLL (IWAE, K=8)", 99.5, 0.375, 1.1111, "d", "test", 30]
    compared = read_page(tmp_path / "c.html")
    assert compared.cells("evaluation", "p") == {
        "run": "p", "bound (eval.json)": "NLL (IWAE, K=8)", "nats per example": "99.50",
        "± stderr": "0.375", "bits/dim": "1.11", "data": "d", "split": "test", "examples": "30",
    }  # fmt: skip
    seconds = sum(e["time_s"] for e in epochs)  # the run's whole training time
    assert result.metrics_rows[0][7] == pytest.approx(seconds)
    kept = epochs[0]  # the epoch whose weights it kept
    assert compared.cells("final-numbers", "p") == {
        "run": "p",
        "epochs": "2",
        "train -ELBO": number(kept["train"]["neg_elbo"]),
        "val -ELBO": number(kept["val"]["neg_elbo"]),
        "test -ELBO": number(test["neg_elbo"]),
        "test rec": number(test["rec"]),
        "test KL": number(test["kl"]),
        "time (s)": number(float(seconds)),
    }
    assert not any("eval.json" in w for w in result.warnings)  # figures computed alike
    # An eval.json from before it recorded the weights cannot say it judged these ones.
    del found["weights_sha256"]
    (twin / "eval.json").write_text(json.dumps(found))
    view = open_run(twin, reopen=False)
    assert "eval.json does not record which weights it judged" in eval_section(view)
    assert eval_row(view, "q", found) == ["q", STALE, *[None] * 6]


def test_compare_warns_of_eval_figures_computed_differently_naming_what_differs():
    """The runs' eval.json figures computed on other data, split, examples or bound: one
    warning naming that, with each run's; a run without current figures is not compared."""
    from vaekit.report.comparison import eval_warnings

    a = ["a", "NLL (IWAE, K=8)", 99.5, 0.5, None, "d", "test", 30]
    for column, what in ((1, "bound"), (5, "data"), (6, "split"), (7, "number of examples")):
        b = ["b", *a[1:]]
        b[column] = "other"
        assert eval_warnings(["a", "b"], [a, b]) == [
            f"the eval.json figures differ in {what} (a {a[column]}, b other)"
        ]
    missing = ["b", "no eval.json: run `vaekit eval`", *[None] * 6]
    assert eval_warnings(["a", "b"], [a, missing]) == []


def test_compare_warns_of_eval_figures_drawn_with_other_seeds():
    """Two runs' figures on 100 examples each, or on binarized pixels, drawn with --seed 1
    and 2: the same counts, other examples or bits, and no warning was given."""
    from vaekit.report.comparison import seed_warnings

    row = ["a", "NLL (IWAE, K=8)", 99.5, 0.5, None, "d", "test", 100]
    subset = {"subset": {"max_examples": 100}, "seed": 1}
    binarized = {"binarized": {"seed": 1}, "seed": 1}
    for drawn in (subset, binarized):
        other = {**drawn, "seed": 2}
        assert seed_warnings(["a", "b"], [drawn, other], [row, row]) == [
            "the eval.json figures were drawn with different --seed (a 1, b 2): other "
            "examples (--max-examples) or other binarized pixels; evaluate each with the "
            "same --seed"
        ]
        assert seed_warnings(["a", "b"], [drawn, drawn], [row, row]) == []
    whole = {"seed": 1}  # the whole split, not binarized: only the importance draws differ
    assert seed_warnings(["a", "b"], [whole, {"seed": 2}], [row, row]) == []


def test_compare_names_each_figure_warns_and_fits_the_terminal(npz, tmp_path, capsys):
    import vaekit
    from vaekit.api.report import eval_section, open_run

    # Data at a 400-character path: its name (data.name) is a config difference that once
    # printed as one line that long.
    folder = tmp_path / ("d" * 200) / ("e" * 200)
    folder.mkdir(parents=True)
    other = write_npz(folder / "x.npz", n=300, size=8, seed=1)
    a = vaekit.train(npz, latent_dim=2, out=tmp_path / "a", report=False, **TINY).path
    b = vaekit.train(other, latent_dim=2, out=tmp_path / "b", report=False, **TINY).path
    write_eval(a, "log-likelihood", 8, 1234.56)
    write_eval(b, "objective", 1000, 987.65)
    out = tmp_path / "cmp.html"
    assert cli("compare", a, b, "-o", out) == 0
    printed = capsys.readouterr()
    assert max(len(line) for line in printed.out.splitlines()) <= 120
    assert "d" * 100 in printed.out.replace("\n", "").replace(" ", "")  # wrapped, not cut
    rows = {line.split()[0]: line for line in printed.out.splitlines() if "(IWAE, K=" in line}
    assert "NLL (IWAE, K=8)" in rows["a"] and "1234.56" in rows["a"]
    assert "objective (IWAE, K=1000)" in rows["b"] and "987.65" in rows["b"]
    assert "trained on different data" in printed.err  # the checksums of the data differ
    assert "differ in bound" in printed.err  # K=8 against K=1000
    page = read_page(out)
    assert "trained on different data" in page.sections["runs"]
    assert "NLL (IWAE, K=8)" in page.sections["evaluation"]
    assert "objective (IWAE, K=1000)" in page.sections["evaluation"]

    # b's eval.json judged other weights: its figure is not shown, on either page.
    write_eval(b, "objective", 1000, 987.65, weights="0" * 64)
    assert cli("compare", a, b, "-o", out, "--overwrite") == 0
    printed = capsys.readouterr().out
    assert "stale: run `vaekit eval`" in printed and "987.65" not in printed
    assert "1234.56" in printed
    evaluation = read_page(out).sections["evaluation"]
    assert "stale: run `vaekit eval`" in evaluation and "987.65" not in evaluation
    assert "computed on other weights" in eval_section(open_run(b, reopen=False))


def test_a_2d_mixture_prior_draws_its_manifold_over_the_posterior_means(npz, tmp_path):
    import vaekit

    run = vaekit.train(npz, prior="mog", latent_dim=2, out=tmp_path / "m", report=False, **TINY)
    page = read_page(write_report(run.path))
    assert "range of the test set's posterior means" in page.sections["manifold"]
    assert png(page.images["manifold"][0]).size == (15 * 56, 15 * 56)
    assert "mog prior has no closed-form KL" in page.sections["kl-per-latent-dimension"]
    assert "standard-normal prior" in page.sections["latent-traversal"]


def test_overwrite_replaces_a_run_with_its_report(npz, tmp_path):
    out = tmp_path / "o"
    flags = ["--data", npz, "--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2",
             "--epochs", "1", "--quiet", "--out", out]  # fmt: skip
    assert cli("train", *flags) == 0 and (out / REPORT_FILE).exists()
    # report.html is one of vaekit's own files: --overwrite may replace the run that holds it.
    assert cli("train", *flags, "--overwrite", "--no-report") == 0
    assert not (out / REPORT_FILE).exists() and (out / "model.safetensors").exists()


def test_latent_map_legends_use_the_data_class_names(tmp_path, monkeypatch):
    import vaekit
    import vaekit.report.latent as report_latent
    from vaekit.api.model import load
    from vaekit.report.plots import latent_map_figure
    from vaekit.serve.explorer import Explorer

    rng = np.random.default_rng(0)
    for name, level in (("bad", 40), ("ok", 200)):  # subfolders: the classes, by name
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(20):
            pixels = np.clip(level + rng.normal(0, 20, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    run = vaekit.train(tmp_path / "imgs", latent_dim=2, out=tmp_path / "r", report=False,
                       **{**TINY, "epochs": 1})  # fmt: skip
    model = load(run.path)
    assert model.class_names == ["bad", "ok"]

    given: list = []
    real = report_latent.latent_map_png

    def spy(*args, **kwargs):
        given.append(kwargs.get("class_names"))
        return real(*args, **kwargs)

    monkeypatch.setattr(report_latent, "latent_map_png", spy)
    page = read_page(write_report(run.path))
    assert given == [["bad", "ok"]] and "coloured by class" in page.sections["latent-map"]
    figure = latent_map_figure(np.zeros((4, 2)), np.array([0, 1, 1, 0]), ("z0", "z1"),
                               class_names=given[0])  # fmt: skip
    legend = figure.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["bad", "ok"]
    assert legend.get_title().get_text() == "class"
    # The web page's legend reads the same names.
    info = Explorer(model, run.path).info()
    assert info["map"]["class_names"] == ["bad", "ok"]
    assert set(info["map"]["labels"]) <= {0, 1}


def test_the_model_line_shows_the_family_s_own_options():
    from vaekit.report.page import model_line

    model = {"family": "hvae", "latent_dim": 8, "likelihood": "bernoulli", "prior": "mog"}
    model["family_options"] = {"hidden_dims": [400, 200], "layers": 3}
    assert model_line({"model": model}) == (
        "hvae VAE, Z=8 (hidden dims 400,200, layers 3), bernoulli likelihood, mog prior"
    )
    model["family_options"] = {}
    assert model_line({"model": model}).startswith("hvae VAE, Z=8, bernoulli")


def test_a_small_number_keeps_four_significant_digits():
    """A table's per-column RMSE of 0.01665 was shown as 0.02."""
    assert [number(v) for v in (0.01665, 0.04022, 0.789, 0.0, 43.3149, 1234.5)] == [
        "0.01665", "0.04022", "0.789", "0.00", "43.31", "1,234.50"
    ]  # fmt: skip


def test_pairs_of_image_sets_keep_a_row_each_when_the_last_row_is_short():
    """3 inputs above their 3 reconstructions: two rows of a grid 8 wide, not one of six."""
    import torch

    from vaekit.report.images import pairs_grid

    inputs, outputs = torch.zeros(3, 1, 2, 2), torch.full((3, 1, 2, 2), 0.5)
    grid = pairs_grid(inputs, outputs, ncols=8)
    assert grid.shape == (16, 1, 2, 2)
    assert (grid[:3] == 0).all() and (grid[3:8] == 1).all()  # inputs, then blank cells
    assert (grid[8:11] == 0.5).all() and (grid[11:] == 1).all()  # their outputs below
    full = pairs_grid(torch.zeros(8, 1, 2, 2), torch.ones(8, 1, 2, 2), ncols=8)
    assert full.shape == (16, 1, 2, 2)  # full rows need no filling


@pytest.mark.parametrize("draw", ["loss_curves_png", "compare_curves_png"])
def test_the_curves_epoch_axis_has_whole_epochs_only(monkeypatch, draw):
    """Two epochs were ticked 1.0, 1.2, ..., 2.0: an epoch is a whole number."""
    import vaekit.report.plots as plots

    drawn = []
    monkeypatch.setattr(plots, "figure_png", lambda fig: drawn.append(fig) or b"")
    terms = {"neg_elbo": 3.0, "rec": 2.0, "kl": 1.0, "loss": 3.0}
    history = [{"epoch": e, "train": terms, "val": terms} for e in (1, 2)]
    getattr(plots, draw)(history if draw == "loss_curves_png" else [("a", history)])
    ticks = [t for ax in drawn[0].axes for t in ax.get_xticks() if ax.get_xlabel() == "epoch"]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_the_compare_legend_names_a_run_without_a_validation_split(monkeypatch):
    """Each run was named by its validation curve alone: a run trained with --val-fraction 0
    was drawn (its train curve, dashed) and named nowhere."""
    import vaekit.report.plots as plots

    drawn = []
    monkeypatch.setattr(plots, "figure_png", lambda fig: drawn.append(fig) or b"")
    terms = {"neg_elbo": 3.0, "rec": 2.0, "kl": 1.0, "loss": 3.0}
    with_val = [{"epoch": e, "train": terms, "val": terms} for e in (1, 2)]
    without = [{"epoch": e, "train": terms} for e in (1, 2)]
    plots.compare_curves_png([("a", with_val), ("b", without)])
    legend = drawn[0].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b"]
    styles = [line.get_linestyle() for line in legend.get_lines()]
    assert styles == ["-", "--"]  # a's validation curve, b's train curve


def test_a_dollar_in_a_class_or_run_name_is_drawn_as_it_is():
    """Names are the user's: "$5-$10" began matplotlib's math mode (drawn "5-10" in italics)
    and "$x^$" ended the whole report in a parse error."""
    from vaekit.report.plots import compare_curves_png, figure_png, latent_map_figure

    names = ["$5-$10", "$x^$"]
    figure = latent_map_figure(np.zeros((4, 2)), np.array([0, 1, 1, 0]), ("z0", "z1"),
                               class_names=names)  # fmt: skip
    texts = figure.axes[0].get_legend().get_texts()
    assert [t.get_text() for t in texts] == names
    assert not any(t.get_parse_math() for t in texts)
    assert figure_png(figure).startswith(b"\x89PNG")
    terms = {"neg_elbo": 3.0, "rec": 2.0, "kl": 1.0, "loss": 3.0}
    record = {"epoch": 1, "train": terms, "val": terms}
    assert compare_curves_png([("cost_$x^$", [record]), ("$5-$10", [record])]).startswith(
        b"\x89PNG"
    )


def test_compare_shows_an_early_stopped_run_at_the_epoch_whose_weights_it_kept(npz, tmp_path):
    """With --patience a run tests and keeps its best validation epoch's weights: its train and
    val figures were its last epoch's, beside test figures of another epoch, unsaid."""
    import vaekit
    from vaekit.api.compare import compare_runs

    run = vaekit.train(npz, latent_dim=2, out=tmp_path / "pat", report=False,
                       **{**TINY, "epochs": 3}).path  # fmt: skip
    shutil.copytree(run, tmp_path / "all")
    lines = (run / "metrics.jsonl").read_text().splitlines()
    final = json.loads(lines[-1])
    epochs = [json.loads(line) for line in lines[:-1]]
    final["best_epoch"] = 2  # as early stopping records it (the weights are what they are)
    (run / "metrics.jsonl").write_text("\n".join([*lines[:-1], json.dumps(final)]) + "\n")
    result = compare_runs([run, tmp_path / "all"], tmp_path / "c.html")
    row, whole = result.metrics_rows
    assert whole[1:4] == [3, epochs[2]["train"]["neg_elbo"], epochs[2]["val"]["neg_elbo"]]
    assert row[1] == 3  # epochs trained
    assert row[2:4] == [epochs[1]["train"]["neg_elbo"], epochs[1]["val"]["neg_elbo"]]
    assert row[4:7] == [final["test"][k] for k in ("neg_elbo", "rec", "kl")]
    assert result.warnings == [
        "pat kept the weights of epoch 2 of 3 (its best validation epoch, --patience): its "
        "train, val and test figures are of that epoch"
    ]
    assert "pat kept the weights of epoch 2 of 3" in (tmp_path / "c.html").read_text()


def test_compare_warns_of_test_splits_carved_differently_from_the_same_data():
    """The same data (one checksum) carved with other seeds or fractions: test numbers on
    different examples, which the page and the printout say."""
    from vaekit.report.comparison import data_warnings

    same = {"sha256": "abc", "test_carved": {"fraction": 0.1, "seed": 0}}
    other = {"sha256": "abc", "test_carved": {"fraction": 0.1, "seed": 1}}
    assert data_warnings(["a", "b"], [{"data": same}, {"data": same}]) == []
    (warning,) = data_warnings(["a", "b"], [{"data": same}, {"data": other}])
    assert warning.startswith("the runs' test splits were carved differently from the same data")
    # an image folder's run recorded before its content was hashed: its files' fingerprint,
    # which a newer run on the same folder records beside the content's checksum
    old = {"sha256": "fp1", "test_carved": same["test_carved"]}
    new = {**same, "fingerprint": "fp1"}
    assert data_warnings(["old", "new"], [{"data": old}, {"data": new}]) == []
    (warning,) = data_warnings(
        ["old", "new"], [{"data": old}, {"data": {**new, "fingerprint": "x"}}]
    )
    assert warning.startswith("the runs were trained on different data")


def test_compare_shows_configuration_values_as_given():
    """1.001 beside 1.0 and 1e-5 beside 1.2e-5 differ: not "1.00" and "0.00" twice."""
    from vaekit.cli.report import format_table
    from vaekit.report.comparison import as_given

    assert [as_given(v) for v in (1.001, 1.0, 1e-05, 1.2e-05, 3, "mlp")] == [
        "1.001", "1", "1e-05", "1.2e-05", 3, "mlp"
    ]  # fmt: skip
    line = format_table(("option", "a", "b"), [["training.beta", *map(as_given, (1.001, 1.0))]])
    assert line.splitlines()[1].split() == ["training.beta", "1.001", "1"]


def test_the_config_table_shows_names_as_written():
    """A class folder named ünïcode was shown as \\u00fcn\\u00efcode in the config table."""
    shown = flatten({"data": {"classes": ["ünïcode", "b s"], "name": "x"}})
    assert shown == {"data.classes": '["ünïcode", "b s"]', "data.name": "x"}


def test_the_train_note_says_what_the_train_figures_are_of():
    """Train figures measured on other inputs or weights than validation's and test's say so:
    --train-noise, a text decoder's dropped words, --ema (validation and test are of the
    average, train of the weights as trained)."""
    from types import SimpleNamespace

    from vaekit.report.page import train_note

    plain = SimpleNamespace()
    assert train_note(plain, {"training": {"train_noise": None, "ema": 0.0}}) is None
    assert train_note(plain, {"training": {"ema": 0.999}}) == (
        "train figures (not validation's and test's) of the weights as trained rather than "
        "their average (--ema 0.999)"
    )
    both = train_note(SimpleNamespace(word_dropout=0.25), {"training": {"train_noise": "mask:0.5"}})
    assert both == (
        "train figures (not validation's and test's) on inputs corrupted by --train-noise "
        "mask:0.5 and with each of the decoder's input words dropped with probability 0.25"
    )


def test_a_conditional_runs_curves_name_the_label_in_each_term(monkeypatch):
    """The report's curves of a --conditional run titled its terms -log p(x|z) and
    KL(q(z|x) || p(z)): its encoder and decoder read the label. On a compare page where some
    runs are conditional, the titles name both forms and the legend marks those runs."""
    import vaekit.report.plots as plots

    drawn = []
    monkeypatch.setattr(plots, "figure_png", lambda fig: drawn.append(fig) or b"")
    terms = {"neg_elbo": 3.0, "rec": 2.0, "kl": 1.0, "loss": 3.0}
    history = [{"epoch": 1, "train": terms, "val": terms}]
    plots.loss_curves_png(history, "", given=True)
    plots.loss_curves_png(history, "")
    plots.compare_curves_png([("a", history), ("b", history)], given=["a", "b"])  # every run
    plots.compare_curves_png([("a", history), ("b", history)])
    plots.compare_curves_png([("a", history), ("b", history)], given=["b"])  # one of the two
    titles = [[ax.get_title() for ax in fig.axes] for fig in drawn]
    given = ["-ELBO, given the label", "reconstruction (-log p(x|z,y))", "KL(q(z|x,y) || p(z))"]
    plain = ["-ELBO", "reconstruction (-log p(x|z))", "KL(q(z|x) || p(z))"]
    mixed = [
        "-ELBO (given the label where conditional)",
        "reconstruction (-log p(x|z) or p(x|z,y))",
        "KL(q(z|x) or q(z|x,y) || p(z))",
    ]
    assert titles == [given, plain, given, plain, mixed]
    legends = [[t.get_text() for t in fig.axes[0].get_legend().get_texts()] for fig in drawn[2:]]
    assert legends == [["a", "b"], ["a", "b"], ["a", "b (given the label)"]]
