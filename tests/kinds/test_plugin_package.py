"""A third party's package, really installed beside vaekit (a distribution with its
entry_points.txt, built in a temporary folder and put on sys.path, no pip), adds a model family,
a kind of data and a training objective: `vaekit train --help` lists the family and the
objective and the options they declare, and the command trains, evaluates, samples and reports
with them, each found through its entry point."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli.test_cli import vaekit
from vaekit import load
from vaekit.api.run import read_metrics
from vaekit.components import OBJECTIVES
from vaekit.kinds import base

PACKAGE = "vaekit_plugin_demo"

# The package's code: a family that builds vaekit's mlp with its hidden widths times an option
# of its own (--demo-scale) and marks the model, and a kind that
# takes files ending in .demo.npz, opens them as vaekit opens any .npz, and marks the data and
# counts its openings.
PLUGIN_SOURCE = '''\
"""A third party's vaekit plug-in, for the tests."""

from pathlib import Path

import dataclasses

from vaekit.components import Component
from vaekit.kinds.base import Family, Kind, Source, source
from vaekit.options import Float, Int, Option

SCALE = Option("demo_scale", Int(least=1), 1, "demo-mlp: multiplies each hidden width",
               "model", section="model")
FAMILY = Family("demo-mlp", "a third party's mlp", "vaekit_plugin_demo:build",
                options=("hidden_dims", "demo_scale"), declares=(SCALE,))
KIND = Kind(
    "demo-npz", "demo arrays", "img", None,
    (Source("demo-npz", "vaekit_plugin_demo:recognizes", "vaekit_plugin_demo:open_demo"),),
)
WEIGHT = Option("demo_weight", Float(), 0.0, "demo-l2: the weight of z's squared norm",
                "objective", section="training")
OBJECTIVE = Component("demo-l2", "a third party's penalty on z's squared norm",
                      "vaekit_plugin_demo:build_objective", declares=(WEIGHT,))
opened = []
built_with = []


def build_objective(model, config):
    from vaekit.training.objectives import TrainingObjective

    weight = config.objective_options["demo_weight"]
    built_with.append(weight)

    class SquaredNorm(TrainingObjective):
        name = "demo-l2"

        def penalty(self, terms, generator=None):
            draws = terms.log_px.shape[1]
            return weight * terms.z.pow(2).sum(-1).view(-1, draws).mean(1)

    return SquaredNorm()


def build(config, likelihood, parts):
    from vaekit.models.families import build_mlp

    own = config.family_options
    widths = tuple(w * own["demo_scale"] for w in own["hidden_dims"])
    mlp = dataclasses.replace(config, family="mlp", family_options={"hidden_dims": widths})
    model = build_mlp(mlp, likelihood, parts)
    model.built_by_demo = True
    return model


def recognizes(source):
    return isinstance(source, str | Path) and str(source).endswith(".demo.npz")


def open_demo(path, request):
    opened.append(str(path))
    dataset = source("array-file").load_opener()(path, request)
    dataset.info["opened_by_demo"] = True
    return dataset
'''

ENTRY_POINTS = f"""\
[vaekit.families]
demo-mlp = {PACKAGE}:FAMILY

[vaekit.kinds]
demo-npz = {PACKAGE}:KIND

[vaekit.objectives]
demo-l2 = {PACKAGE}:OBJECTIVE
"""


def install(site: Path) -> None:
    """Write the package and its distribution's metadata into `site`, as pip would."""
    (site / PACKAGE).mkdir()
    (site / PACKAGE / "__init__.py").write_text(PLUGIN_SOURCE)
    dist_info = site / f"{PACKAGE}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The package installed in its own folder on sys.path, with both registries fresh (their
    entry points not yet looked up); all of it undone after, the package's module included."""
    site = tmp_path / "site"
    site.mkdir()
    install(site)
    for registry in (base.FAMILIES, base.KINDS, OBJECTIVES):
        monkeypatch.setattr(registry, "known", dict(registry.known))
        monkeypatch.setattr(registry, "loaded", False)
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop(PACKAGE, None)


def test_the_help_lists_the_installed_family(plugin, capsys):
    assert vaekit("train", "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "demo-mlp" in text
    assert "--demo-scale DEMO_SCALE demo-mlp: multiplies each hidden width" in text
    assert "{" + ",".join(base.family_names()) + "}" in text
    assert base.family_names()[-1] == "demo-mlp" and base.kind_names()[-1] == "demo-npz"


def test_an_installed_familys_option_is_a_toml_key_and_a_keyword_refused_elsewhere(
    plugin, tmp_path
):
    import vaekit as api
    from vaekit.api.options import read_options_file
    from vaekit.errors import VaekitError

    toml = tmp_path / "c.toml"
    toml.write_text('model = "demo-mlp"\ndemo-scale = 2\n')
    assert read_options_file(toml) == {"model": "demo-mlp", "demo_scale": 2}
    data = tmp_path / "d.npz"
    np.savez(data, train_images=np.zeros((20, 4, 4), dtype=np.uint8))
    with pytest.raises(VaekitError, match=r"^--demo-scale is not an option of --model mlp"):
        api.train(data, model="mlp", demo_scale=2, epochs=1, out=tmp_path / "x", progress=False)
    with pytest.raises(VaekitError, match="demo_scale=: expected a positive integer, got 0"):
        api.train(data, model="demo-mlp", demo_scale=0, out=tmp_path / "y", progress=False)


def test_an_installed_family_and_kind_train_evaluate_sample_and_report(plugin, tmp_path):
    data = tmp_path / "shapes.demo.npz"
    images = (np.random.default_rng(0).random((40, 6, 6)) * 255).astype(np.uint8)
    np.savez(data, train_images=images)
    run = tmp_path / "R"
    trained = vaekit(
        "train", "--data", data, "--model", "demo-mlp", "--epochs", "1", "--latent-dim", "2",
        "--hidden-dims", "8", "--demo-scale", "3", "--out", run, "--quiet",
    )  # fmt: skip
    assert trained == 0
    demo = sys.modules[PACKAGE]
    assert demo.opened == [str(data)]  # the kind's opener read the data

    config = json.loads((run / "config.json").read_text())
    assert config["model"]["family"] == "demo-mlp" and config["data"]["opened_by_demo"]
    assert config["model"]["family_options"] == {"hidden_dims": [8], "demo_scale": 3}
    model = load(run).vae
    assert model.built_by_demo  # the family's builder made the model, and remakes it
    widths = [m.out_features for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert widths[0] == 24  # --hidden-dims 8 times --demo-scale 3

    assert vaekit("eval", run, "--iw-samples", "2", "--no-probe") == 0
    assert demo.opened == [str(data)] * 2  # eval reopened the recorded data through the kind
    scored = json.loads((run / "eval.json").read_text())
    # The plug-in family's numbers: its bound with the K asked for, finite, on the kind's data.
    assert scored["iwae"]["k"] == 2 and scored["data_is_the_runs"] is True
    assert math.isfinite(scored["elbo"]["loss"]) and math.isfinite(scored["iwae"]["nll"])
    assert scored["not_finite"] == []
    assert vaekit("sample", run, "-n", "4", "-o", tmp_path / "S.png") == 0
    assert (tmp_path / "S.png").stat().st_size > 0
    (run / "report.html").unlink()  # train wrote one: `vaekit report` must write it again
    assert vaekit("report", run) == 0
    assert (run / "report.html").stat().st_size > 0


def test_an_installed_objective_trains_with_its_own_option_and_resumes(plugin, tmp_path, capsys):
    assert vaekit("train", "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--demo-weight DEMO_WEIGHT demo-l2: the weight of z's squared norm" in text
    assert "{elbo,tcvae,factorvae,infovae,demo-l2}" in text
    data = tmp_path / "d.npz"
    np.savez(
        data, train_images=(np.random.default_rng(0).random((40, 6, 6)) * 255).astype(np.uint8)
    )
    tiny = (
        "--data",
        data,
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--latent-dim",
        "2",
        "--hidden-dims",
        "8",
        "--quiet",
    )
    run = tmp_path / "R"
    code = vaekit("train", *tiny, "--objective", "demo-l2", "--demo-weight", "0.5", "--out", run)
    assert code == 0
    demo = sys.modules[PACKAGE]
    assert demo.built_with == [0.5]  # its builder got its option's value
    training = json.loads((run / "config.json").read_text())["training"]
    assert training["objective"] == "demo-l2" and training["demo_weight"] == 0.5
    assert vaekit("train", "--out", run, "--resume", "--epochs", "2", "--quiet") == 0
    assert demo.built_with == [0.5, 0.5]  # and again from config.json on --resume
    assert len([r for r in read_metrics(run) if not r.get("final")]) == 2
    # Refused with another objective, in one line; a run of another records none of it.
    capsys.readouterr()
    assert vaekit("train", *tiny, "--demo-weight", "1", "--out", tmp_path / "E") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--demo-weight is an option of --objective demo-l2" in err
    assert vaekit("train", *tiny, "--out", tmp_path / "P") == 0
    plain = json.loads((tmp_path / "P" / "config.json").read_text())["training"]
    assert "demo_weight" not in plain and plain["objective"] == "elbo"
    assert vaekit("train", "--out", tmp_path / "P", "--resume", "--epochs", "2", "--quiet") == 0


def test_importing_vaekit_reads_no_installed_package():
    """Installed packages are looked up when a family, a kind or the options are first used,
    not at import: a broken one cannot break `import vaekit` or a command that needs none."""
    code = (
        "import vaekit, vaekit.cli.main, vaekit.api.train, vaekit.api.tune\n"
        "from vaekit.components import OBJECTIVES\n"
        "from vaekit.kinds.base import FAMILIES, KINDS\n"
        "assert not FAMILIES.loaded and not KINDS.loaded and not OBJECTIVES.loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
