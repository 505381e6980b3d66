"""`vaekit tune`: a tiny search ranks its trials and writes its page and best run; a search
killed mid-trial continues with --resume, every trial once; a pruner stops weak trials after
an epoch; the space is narrowed from TOML and the command line; bad specs are one line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit
from tests.conftest import write_npz
from vaekit.api.run import read_metrics
from vaekit.api.tune_space import Range, Space, build_space, parse_space_arg, space_ranges
from vaekit.errors import VaekitError

optuna = pytest.importorskip("optuna")

# Tiny trials: an MLP of a few units on 6x6 images, two epochs each.
TINY = (
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--no-report",
    "--quiet",
    "--pruner",
    "none",
    "--space",
    "model=mlp",
    "--space",
    "hidden-dims=8/16,8",
    "--space",
    "latent-dim=2:4",
)
TINY_API = {
    "epochs": 2,
    "batch_size": 32,
    "report": False,
    "progress": False,
    "space": {"model": ["mlp"], "hidden_dims": [[8], [16, 8]], "latent_dim": "2:4"},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_npz(tmp_path_factory.mktemp("tune") / "d.npz", n=120, size=6)


def last_val(rundir: Path) -> float:
    epochs = [r for r in read_metrics(rundir) if not r.get("final")]
    return epochs[-1]["val"]["neg_elbo"]


def load(search: Path):
    return optuna.load_study(study_name="vaekit", storage=f"sqlite:///{search / 'study.db'}")


def test_a_tiny_search_ranks_its_trials_and_writes_its_page_and_best(data, tmp_path, capsys):
    search = tmp_path / "s"
    code = vaekit("tune", "--data", data, "--budget", "5m", "--trials", "3", "--out", search, *TINY)
    out = capsys.readouterr().out
    assert code == 0
    runs = sorted(search.glob("trial-*"))
    assert [r.name for r in runs] == ["trial-0000", "trial-0001", "trial-0002"]
    for run in runs:  # the space as narrowed: mlp only, its widths and latent sizes
        config = json.loads((run / "config.json").read_text())
        assert config["model"]["family"] == "mlp"
        assert config["model"]["family_options"]["hidden_dims"] in ([8], [16, 8])
        assert 2 <= config["model"]["latent_dim"] <= 4
        assert config["training"]["time_budget"] <= 300
    # The printed table: the three trials ranked by their runs' validation -ELBO.
    table = [
        line.split() for line in out.splitlines() if line.strip().startswith(("1 ", "2 ", "3 "))
    ]
    ranked = [float(row[3]) for row in table]
    assert len(table) == 3 and ranked == sorted(ranked)
    values = {f"trial-{int(row[1]):04d}": float(row[3]) for row in table}
    for run in runs:
        assert values[run.name] == pytest.approx(last_val(run), abs=0.01)
    # best: a link to the best run, which every command takes as a run.
    best = min(runs, key=last_val)
    assert (search / "best").resolve() == best.resolve()
    assert f"best: {best}" in out
    assert vaekit("sample", search / "best", "-n", "4", "-o", tmp_path / "s.png") == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    page = (search / "search.html").read_text()
    assert "Trials over time" in page and "Parameter importance" in page
    assert page.count("data:image/png;base64,") == 2  # the plot and the best run's samples
    assert all(f">{r.name}<" in page for r in runs)


def test_trials_write_no_report_nor_count_active_units_unless_asked(data, tmp_path):
    """A trial's closing work is the validation's and the test pass's: report.html and the
    active units (for a PixelCNN decoder or a hierarchy, each longer than a short trial's
    training) are left to `vaekit report` and `vaekit eval`, on the runs a user picks."""
    plain = [a for a in TINY if a != "--no-report"]
    search = tmp_path / "s"
    assert vaekit("tune", "--data", data, "--budget", "5m", "--trials", "1", "--out", search,
                  *plain) == 0  # fmt: skip
    trial = search / "trial-0000"
    final = read_metrics(trial)[-1]
    assert final["final"] and final["latents"] == {"latent_dim": final["latents"]["latent_dim"]}
    assert "neg_elbo" in final["test"] and not (trial / "report.html").exists()
    assert json.loads((trial / "config.json").read_text())["training"]["report"] is False
    # The run is a run: vaekit eval counts its active units, vaekit report writes its page.
    assert vaekit("eval", search / "best", "--iw-samples", "2", "--no-probe") == 0
    assert "active_units" in json.loads((trial / "eval.json").read_text())["latents"]
    # --report asks every trial for its page.
    asked = tmp_path / "r"
    assert vaekit("tune", "--data", data, "--budget", "5m", "--trials", "1", "--out", asked,
                  *plain, "--report") == 0  # fmt: skip
    assert (asked / "trial-0000" / "report.html").is_file()


KILLER = r"""
import os, signal, sys
from vaekit.api.tune import tune
from vaekit.training.loop import Callback

class KillInThirdTrial(Callback):
    starts = 0
    def on_train_start(self, total_steps, state):
        KillInThirdTrial.starts += 1
    def on_epoch_end(self, record, state):
        if KillInThirdTrial.starts == 3:  # after its first epoch's checkpoint
            os.kill(os.getpid(), signal.SIGKILL)

tune(sys.argv[1], out=sys.argv[2], budget="10m", trials=4, pruner="none", epochs=2,
     batch_size=32, report=False, progress=False, callbacks=[KillInThirdTrial()],
     space={"model": ["mlp"], "hidden_dims": [[8], [16, 8]], "latent_dim": "2:4"})
"""


def test_a_killed_search_resumes_with_every_trial_once(data, tmp_path):
    search = tmp_path / "s"
    child = subprocess.run(
        [sys.executable, "-c", KILLER, str(data), str(search)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr
    assert load(search).trials[2].state == optuna.trial.TrialState.RUNNING
    assert vaekit("tune", "--out", search, "--resume", "--quiet") == 0
    study = load(search)
    states = [t.state.name for t in study.trials]
    # Trial 2, killed after its first epoch, is marked failed and continued as trial 3.
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert study.user_attrs["killed"] == [2]
    retry = study.trials[3]
    assert retry.user_attrs["retry_of"] == 2 and retry.params == study.trials[2].params
    assert retry.user_attrs["continues"] == "trial-0002"
    assert sorted(p.name for p in search.glob("trial-*")) == [
        "trial-0000",
        "trial-0001",
        "trial-0003",
        "trial-0004",
    ]
    # The continued run trained each epoch once: epoch 1 before the kill, 2 after.
    records = read_metrics(search / "trial-0003")
    assert [r["epoch"] for r in records if not r.get("final")] == [1, 2]
    assert retry.value == pytest.approx(last_val(search / "trial-0003"))
    assert sorted(retry.intermediate_values) == [1, 2]
    # Four trials ran to a score, each in its own run; none twice.
    scored = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(scored) == 4 and len({t.user_attrs["rundir"] for t in scored}) == 4
    assert len({t.number for t in scored}) == 4
    assert vaekit("tune", "--out", search, "--resume", "--trials", "4", "--quiet") == 0
    assert len(load(search).trials) == 5  # the count is reached: nothing more runs


def test_a_pruner_stops_weak_trials_after_an_epoch(data, tmp_path):
    from vaekit.api.tune import tune

    # Any -ELBO above 0 nats is "weak": every trial is pruned at its first report.
    pruner = optuna.pruners.ThresholdPruner(upper=0.0)
    search = tune(
        data, out=tmp_path / "s", budget="5m", trials=2, pruner=pruner, **{**TINY_API, "epochs": 4}
    )
    assert [row.state for row in search.trials] == ["pruned", "pruned"]
    for row in search.trials:
        records = read_metrics(search.path / str(row.rundir))
        assert [r["epoch"] for r in records if not r.get("final")] == [1]
        assert records[-1]["final"] and "stopped_by" in records[-1]  # before --epochs
        assert row.value == pytest.approx(last_val(search.path / str(row.rundir)))
    assert search.best is not None and search.best.name == search.trials[0].rundir
    # Without the pruner the same trials run their four epochs.
    kept = tune(
        data, out=tmp_path / "k", budget="5m", trials=1, pruner="none", **{**TINY_API, "epochs": 4}
    )
    assert kept.trials[0].state == "complete" and kept.trials[0].epochs == 4


def test_the_space_comes_from_the_declarations_narrowed_by_toml_and_flags(tmp_path):
    from vaekit.cli.tune import read_search_file

    def takes_all(options):
        return None

    declared = build_space({}, {}, takes_all)
    assert set(declared.model.choices) >= {"mlp", "conv"}
    assert declared.shared["latent_dim"] == Range("latent_dim", low=8, high=64, log=True)
    assert (512, 256) in declared.own["mlp"]["hidden_dims"].choices
    assert declared.own["resnet"]["depth"] == Range("depth", low=1, high=3)
    toml = tmp_path / "s.toml"
    toml.write_text(
        'epochs = 3\nlr = 0.002\n[search]\nmodel = ["mlp", "resnet"]\n'
        'latent-dim = "2:6:log"\nhidden-dims = [[8], [16, 8]]\ndepth = 2\n'
    )
    options, table = read_search_file(str(toml))
    assert options == {"epochs": 3, "lr": 0.002}
    given = {**space_ranges(table, "search"), "latent_dim": parse_space_arg("latent-dim=3:5")}
    space = build_space(options, given, takes_all)
    assert space.model.choices == ("mlp", "resnet")
    assert space.shared["latent_dim"] == Range("latent_dim", low=3, high=5)  # the flag wins
    assert "lr" not in space.shared  # given a value: not searched
    assert space.own["mlp"] == {"hidden_dims": Range("hidden_dims", ((8,), (16, 8)))}
    assert space.own["resnet"]["depth"] == Range("depth", (2,))  # one value fixes it
    assert space.own["resnet"]["channels"] == declared.own["resnet"]["channels"]
    # Choices the data refuses: left out where declared, an error where the user asked.
    no_vamp = lambda o: "no vamp here" if o.get("prior") == "vamp" else None  # noqa: E731
    assert "vamp" not in build_space({}, {}, no_vamp).shared["prior"].choices
    # A PixelCNN decoder and EMA are declared; data that takes no PixelCNN does not draw it
    # (its one value left is the default), but a value the user asks for is kept.
    assert declared.shared["autoregressive"] == Range("autoregressive", (0, 1))
    assert declared.shared["ema"] == Range("ema", (0.0, 0.999))
    no_pixelcnn = lambda o: "no PixelCNN" if o.get("autoregressive") else None  # noqa: E731
    assert "autoregressive" not in build_space({}, {}, no_pixelcnn).shared
    kept = build_space({}, {"autoregressive": parse_space_arg("autoregressive=0")}, no_pixelcnn)
    assert kept.shared["autoregressive"] == Range("autoregressive", (0,))
    with pytest.raises(VaekitError, match="no vamp here"):
        build_space({}, {"prior": parse_space_arg("prior=mog,vamp")}, no_vamp)
    # A trial draws the family's own options under its name, and reads back the same.
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    trial = study.ask()
    drawn = space.sample(trial)
    assert drawn["model"] in ("mlp", "resnet") and 3 <= drawn["latent_dim"] <= 5
    assert space.options_of(trial.params) == drawn
    assert {f"{drawn['model']}.{k}" for k in space.own[drawn["model"]]} <= set(trial.params)


def test_a_family_that_takes_a_shared_option_at_its_default_only_does_not_draw_it(data):
    # vqvae takes no --prior and no --autoregressive: drawing them refused nearly every vqvae
    # trial of a search (5 of 6 draws with the declared choices), so the family was never
    # tried. Its trials now leave them at the default; the other families draw them.
    from vaekit.api.tune_trials import feasibility

    space = build_space({}, {"model": parse_space_arg("model=mlp,vqvae")}, feasibility(data, {}))
    assert set(space.defaults_only) == {"vqvae"}
    # and --kl-warmup, which it takes but has no use for (its KL is a constant)
    assert set(space.defaults_only["vqvae"]) == {"prior", "autoregressive", "kl_warmup"}
    assert Space.from_json(json.loads(json.dumps(space.to_json()))) == space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = [space.sample(study.ask()) for _ in range(40)]
    vq = [d for d in drawn if d["model"] == "vqvae"]
    mlp = [d for d in drawn if d["model"] == "mlp"]
    assert vq and mlp
    assert not any({"prior", "autoregressive", "kl_warmup"} & set(d) for d in vq)
    assert all({"prior", "autoregressive", "kl_warmup"} <= set(d) for d in mlp)
    check = feasibility(data, {})
    assert all(check(d) is None for d in vq), [check(d) for d in vq]


def test_the_pixelcnn_shape_is_drawn_only_where_the_pixelcnn_is():
    """--ar-kernel and --ar-width are searched with --autoregressive: drawn in the trials
    that draw a PixelCNN decoder and in no other; in every trial where the search is given
    one; nowhere (and a range for them refused) where it has none."""

    def takes_all(options):
        return None

    space = build_space({"model": "mlp"}, {}, takes_all)
    assert space.shared["ar_kernel"] == Range("ar_kernel", (3, 5, 7))
    assert space.where == {"ar_kernel": "autoregressive", "ar_width": "autoregressive"}
    assert "ar_kernel: 3, 5, 7 (where autoregressive > 0)" in space.lines()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(30):
        trial = study.ask()
        drawn.append(space.sample(trial))
        assert space.options_of(trial.params) == drawn[-1]
    with_ar = [d for d in drawn if d["autoregressive"] > 0]
    assert with_ar and len(with_ar) < len(drawn)
    assert all({"ar_kernel", "ar_width"} <= set(d) for d in with_ar)
    assert not any({"ar_kernel", "ar_width"} & set(d) for d in drawn if d not in with_ar)
    assert {d["ar_kernel"] for d in with_ar} == {3, 5, 7}
    assert Space.from_json(json.loads(json.dumps(space.to_json()))) == space
    # Given a PixelCNN: its shape is drawn in every trial.
    given = build_space({"model": "mlp", "autoregressive": 2}, {}, takes_all)
    assert given.where == {} and "ar_width" in given.shared
    assert "ar_width" in given.sample(study.ask())
    # None: not drawn, and a range for its shape changes nothing, so it is refused.
    no_pixelcnn = lambda o: "no PixelCNN" if o.get("autoregressive") else None  # noqa: E731
    none = build_space({"model": "mlp"}, {}, no_pixelcnn)
    assert not {"autoregressive", "ar_kernel", "ar_width"} & set(none.shared)
    with pytest.raises(VaekitError, match="only with --autoregressive above 0"):
        build_space({"autoregressive": 0}, {"ar_kernel": parse_space_arg("ar-kernel=5,7")},
                    takes_all)  # fmt: skip


def test_a_pixelcnn_shape_the_model_refuses_is_refused_before_the_search(data):
    """An even kernel is refused by the model only with a PixelCNN on: judged with the
    decoder off, `--space ar-kernel=4,5` was accepted and every trial drawing 4 refused."""
    from vaekit.api.tune_trials import feasibility

    with pytest.raises(VaekitError, match="--ar-kernel must be odd, got 4"):
        build_space({}, {"ar_kernel": parse_space_arg("ar-kernel=4,5")}, feasibility(data, {}))
    space = build_space({}, {"ar_kernel": parse_space_arg("ar-kernel=5,7")}, feasibility(data, {}))
    assert space.shared["ar_kernel"] == Range("ar_kernel", (5, 7))


def test_vqvae_trials_draw_no_objective(data):
    """An objective other than elbo is refused for vqvae (its posterior is a point): its
    trials leave --objective at elbo rather than spend the budget on refused trials."""
    from vaekit.api.tune_trials import feasibility

    ranges = {"model": parse_space_arg("model=mlp,vqvae"),
              "objective": parse_space_arg("objective=elbo,tcvae")}  # fmt: skip
    space = build_space({}, ranges, feasibility(data, {}))
    assert "objective" in space.defaults_only["vqvae"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = [space.sample(study.ask()) for _ in range(40)]
    assert all(d.get("objective", "elbo") == "elbo" for d in drawn if d["model"] == "vqvae")
    assert {d.get("objective") for d in drawn if d["model"] == "mlp"} == {"elbo", "tcvae"}


def test_a_searched_objective_draws_its_own_options_only_where_it_is_drawn():
    def takes_all(options):
        return None

    plain = build_space({}, {}, takes_all)  # not searched unless asked: the rank is -ELBO
    assert "objective" not in plain.shared and plain.by_objective == {}
    given = {"objective": parse_space_arg("objective=elbo,tcvae,factorvae,infovae")}
    space = build_space({"model": "mlp", "tc_weight": 4.0}, given, takes_all)
    assert "tcvae" not in space.by_objective  # its weight is given: not searched
    assert space.by_objective["factorvae"]["factor_weight"] == Range(
        "factor_weight", low=5.0, high=100.0, log=True
    )
    assert set(space.by_objective["infovae"]) == {"mmd_weight"}
    seen = set()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        trial = study.ask()
        drawn = space.sample(trial)
        options = space.trial_options({"model": "mlp", "tc_weight": 4.0}, drawn)
        objective = options["objective"]
        seen.add(objective)
        weights = {"tcvae": "tc_weight", "factorvae": "factor_weight", "infovae": "mmd_weight"}
        assert set(weights.values()) & set(options) == {weights.get(objective)} - {None}
        assert options.get("tc_weight", 4.0) == 4.0
        assert space.options_of(trial.params) == drawn
        study.tell(trial, 1.0)
    assert seen == {"elbo", "tcvae", "factorvae", "infovae"}
    # Kept across a resume (the study's settings hold the space as JSON).
    again = Space.from_json(json.loads(json.dumps(space.to_json())))
    assert again.by_objective == space.by_objective and again.shared == space.shared
    # An objective's option that no objective searched takes: one line, not 20 refused draws.
    with pytest.raises(VaekitError, match="belongs to --objective tcvae"):
        build_space({}, {"tc_weight": parse_space_arg("tc-weight=2:8")}, takes_all)


def test_a_search_over_objectives_runs_each_with_its_own_weight(data, tmp_path):
    search = tmp_path / "s"
    objectives = ("--space", "objective=elbo,tcvae", "--space", "tc-weight=2:8", "--trials", "6")
    code = vaekit("tune", "--data", data, "--budget", "5m", "--out", search, *TINY, *objectives)
    assert code == 0
    trained = {}
    for run in sorted(search.glob("trial-*")):
        training = json.loads((run / "config.json").read_text())["training"]
        trained[run.name] = (training["objective"], training["tc_weight"])
    assert {objective for objective, _ in trained.values()} == {"elbo", "tcvae"}
    for objective, weight in trained.values():  # elbo's runs keep the default weight
        assert (2 <= weight <= 8) if objective == "tcvae" else weight == 6.0
    # Every draw ran: none refused for a weight given to the wrong objective.
    assert all("refused" not in t.user_attrs for t in load(search).trials)
    # A weight given a value applies to the trials of its objective, and refuses no other.
    fixed = tmp_path / "f"
    weight = ("--tc-weight", "4", "--space", "objective=elbo,tcvae", "--trials", "4")
    assert vaekit("tune", "--data", data, "--budget", "5m", "--out", fixed, *TINY, *weight) == 0
    runs = sorted(fixed.glob("trial-*"))
    assert len(runs) == 4
    for run in runs:
        training = json.loads((run / "config.json").read_text())["training"]
        assert training["tc_weight"] == (4.0 if training["objective"] == "tcvae" else 6.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("latent-dim=a:b", "--space latent-dim=a:b: expected an integer, got 'a'"),
        ("latent-dim=9:3", "the range's low end must be below its high end"),
        ("beta=0:1:log", "a log range needs a low end above 0"),
        ("lr=1:2:cubic", "expected LOW:HIGH or LOW:HIGH:log"),
        ("prior=1:2", "--prior takes no range LOW:HIGH, only choices"),
        ("model=mlp,nope", "expected one of"),
        ("out=x", "--out cannot be searched"),
        ("colour=1,2", "unknown option 'colour'"),
        ("latent-dim", "expected NAME=LOW:HIGH or NAME=A,B,C"),
        ("depth=1:3", "--space depth: no family searched takes it (searched: mlp)"),
    ],
)
def test_a_bad_space_is_one_line(data, tmp_path, capsys, spec, message):
    code = vaekit(
        "tune",
        "--data",
        data,
        "--budget",
        "1m",
        "--out",
        tmp_path / "s",
        "--model",
        "mlp",
        "--space",
        spec,
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("vaekit: error: ")
    assert message in err
    assert not (tmp_path / "s").exists()  # a refused search leaves nothing behind


def test_an_option_searched_twice_on_the_command_line_is_refused(data, tmp_path, capsys):
    """--space latent-dim=8:16 --space latent_dim=4:6: the last one won, silently."""
    args = ["tune", "--data", data, "--budget", "1m", "--out", tmp_path / "s", "--space",
            "latent-dim=8:16", "--space", "latent_dim=4:6"]  # fmt: skip
    assert vaekit(*args) == 1
    err = capsys.readouterr().err
    assert "--space latent_dim=4:6: latent_dim is given twice; keep one" in err
    assert not (tmp_path / "s").exists()


def test_a_bad_search_table_and_misused_flags_are_one_line(data, tmp_path, capsys):
    toml = tmp_path / "s.toml"
    toml.write_text('[search]\nlatent-dim = "8:x"\n')
    assert (
        vaekit("tune", "--data", data, "--budget", "1m", "--out", tmp_path / "a", "--config", toml)
        == 1
    )
    assert "search latent_dim: expected an integer, got 'x'" in capsys.readouterr().err
    toml.write_text('[search]\nlatnt-dim = "2:8"\n')  # named with the file, and the nearest
    assert vaekit("tune", "--data", data, "--budget", "1m", "--out", tmp_path / "a",
                  "--config", toml) == 1  # fmt: skip
    assert capsys.readouterr().err == (
        f"vaekit: error: {toml}: [search]: unknown option 'latnt-dim' (did you mean "
        "'latent-dim'?)\n"
    )
    assert vaekit("tune", "--data", data, "--out", tmp_path / "b") == 1
    assert "vaekit tune needs --budget" in capsys.readouterr().err
    assert vaekit("tune", "--out", tmp_path / "c", "--resume") == 1
    assert "no search to resume" in capsys.readouterr().err
    assert (
        vaekit(
            "tune",
            "--data",
            data,
            "--budget",
            "1m",
            "--latent-dim",
            "4",
            "--out",
            tmp_path / "d",
            "--space",
            "latent-dim=2:8",
        )
        == 1
    )
    assert "--latent-dim is given a value and a search range" in capsys.readouterr().err
    toml.write_text('[search]\nlatent-dim = "8:32"\nlatent_dim = "8:16"\n')
    assert vaekit("tune", "--data", data, "--budget", "1m", "--out", tmp_path / "e",
                  "--config", toml) == 1  # fmt: skip
    assert "'latent-dim' and 'latent_dim' both set 'latent_dim'" in capsys.readouterr().err
    assert vaekit("tune", "--data", data, "--budget", "1m", "--trials", "0", "--out",
                  tmp_path / "f") == 1  # fmt: skip
    assert "--trials: expected a positive whole number, got 0" in capsys.readouterr().err
    (tmp_path / "g").mkdir()  # an empty folder the user made: kept when the search is refused
    assert vaekit("tune", "--data", data, "--budget", "0s", "--out", tmp_path / "g") == 1
    assert "--budget" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "g").iterdir()] == []
    for name in "abcdef":
        assert not (tmp_path / name).exists()


def test_without_optuna_tune_says_what_to_install(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    assert vaekit("tune", "--data", data, "--budget", "1m", "--out", tmp_path / "s") == 1
    err = capsys.readouterr().err
    assert err == "vaekit: error: vaekit tune needs Optuna: pip install 'vaekit[tune]'\n"


def test_the_budget_bounds_the_search(data, tmp_path):
    """With a budget shorter than one epoch, the first trial still runs (its first epoch
    always does), given what is left as its --time-budget; no second one starts."""
    from vaekit.api.tune import tune

    search = tune(data, out=tmp_path / "s", budget=0.01, pruner="none", **TINY_API)
    assert search.stopped_by == "budget" and len(search.trials) == 1
    config = json.loads((search.path / "trial-0000" / "config.json").read_text())
    assert 0 < config["training"]["time_budget"] <= 0.01
    assert math.isfinite(search.trials[0].value)
    assert os.path.islink(search.path / "best")
    # The study ranks on the validation -ELBO, lower better (its pruner and sampler too).
    assert load(search.path).direction == optuna.study.StudyDirection.MINIMIZE
    # The trial ran past the budget: a resume given no --budget has none left to spend.
    with pytest.raises(VaekitError, match="its budget is spent: give --budget"):
        tune(out=search.path, resume_search=True, progress=False)
    assert len(load(search.path).trials) == 1


def test_a_search_on_a_relative_path_resumes_from_another_folder(data, tmp_path, monkeypatch):
    import shutil

    from vaekit.api.tune import tune

    (tmp_path / "here").mkdir()
    shutil.copy(data, tmp_path / "here" / "d.npz")
    monkeypatch.chdir(tmp_path / "here")
    tune("d.npz", out=tmp_path / "s", budget=0.01, pruner="none", **TINY_API)
    settings = load(tmp_path / "s").user_attrs["settings"]
    assert settings["data"] == str(tmp_path / "here" / "d.npz")  # recorded whole
    monkeypatch.chdir(tmp_path)  # elsewhere, the search goes on with its data
    # (one more trial: --trials counts them all; a budget of 0.01 s left whether a trial
    # started to the machine's load, which the shortest epoch so far is compared with)
    resume = ["--resume", "--budget", "10m", "--trials", "2", "--quiet"]
    assert vaekit("tune", "--out", "s", *resume) == 0
    first, resumed = load(tmp_path / "s").trials  # two trials, one a session
    # The resumed session's sampler is seeded on from the trials so far: it draws afresh,
    # not the first session's trials over again.
    assert resumed.params != first.params


def test_a_search_whose_data_moved_resumes_with_data_checked(data, tmp_path, capsys):
    """The data moved after a search: --resume said "no such file or folder", and --resume
    --data NEW was refused ("give only --budget, --trials and --pruner")."""
    import shutil

    from vaekit.api.tune import tune

    shutil.copy(data, tmp_path / "d.npz")
    tune(str(tmp_path / "d.npz"), out=tmp_path / "s", budget=0.01, pruner="none", **TINY_API)
    (tmp_path / "moved").mkdir()
    shutil.move(tmp_path / "d.npz", tmp_path / "moved" / "d.npz")
    # (one more trial, as in the test above)
    resume = ["tune", "--out", tmp_path / "s", "--resume", "--budget", "10m", "--trials", "2",
              "--quiet"]  # fmt: skip
    assert vaekit(*resume) == 1
    assert "d.npz: no such file or folder (moved? give its new place with --data" in (
        capsys.readouterr().err
    )
    other = write_npz(tmp_path / "other.npz", n=120, size=6, seed=1)  # other images
    assert vaekit(*resume, "--data", other) == 1
    assert "not the data this search's trials trained on" in capsys.readouterr().err
    assert vaekit(*resume, "--data", tmp_path / "moved" / "d.npz") == 0
    assert len(load(tmp_path / "s").trials) == 2
    settings = load(tmp_path / "s").user_attrs["settings"]
    assert settings["data"] == str(tmp_path / "moved" / "d.npz")  # for the next resume


def test_a_search_folder_that_cannot_be_made_is_one_line(data, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert vaekit("tune", "--data", data, "--out", tmp_path / "file" / "s", "--budget", "1s") == 1
    err = capsys.readouterr().err
    assert "cannot make the search's folder" in err and err.count("\n") == 1, err


def test_a_search_with_no_scored_trial_fails_and_a_files_out_is_refused(data, tmp_path, capsys):
    """Every trial diverged: "best: none" and exit 0 let `tune ... && eval SEARCH/best` run
    on. An `out` in the TOML file was an internal error (out given twice)."""
    args = ("tune", "--data", data, "--budget", "1m", "--trials", "2", *TINY)
    assert vaekit(*args, "--lr", "1e6", "--out", tmp_path / "s") == 1
    out, err = capsys.readouterr()
    assert "best: none (no trial ran to a score)" in out
    assert (
        err
        == "vaekit: error: the search has no best run: no trial ran to a score (see the states)\n"
    )
    toml = tmp_path / "t.toml"
    toml.write_text('out = "x"\nepochs = 1\n')
    assert vaekit(*args, "--config", toml, "--out", tmp_path / "t") == 1
    assert f"{toml}: out: a search's folder is --out" in capsys.readouterr().err
    assert not (tmp_path / "t").exists() and not Path("x").exists()


def test_an_empty_search_folder_is_refused(tmp_path, monkeypatch, capsys):
    """--out "" would put the search in the current folder."""
    monkeypatch.chdir(tmp_path)
    assert vaekit("tune", "--data", "digits", "--budget", "8s", "--out", "") == 1
    assert capsys.readouterr().err == "vaekit: error: --out is empty: give the search's folder\n"
    assert list(tmp_path.iterdir()) == []


def test_an_option_fixed_beside_a_searched_choice_is_judged_by_each_trials_choice():
    """`tune --space model=mlp,hvae --hidden-dims 8` was refused as "--hidden-dims is not an
    option of --model conv", and `--space likelihood=bernoulli,gaussian --gaussian-std 0.2` as
    not bernoulli's: judged against the defaults, which the search never draws."""
    from vaekit.api.tune_trials import feasibility

    with pytest.raises(VaekitError, match="--hidden-dims is not an option of --model conv"):
        feasibility("digits", {"hidden_dims": (8,)})  # nothing searched: conv is the family
    feasible = feasibility("digits", {"hidden_dims": (8,)}, {"model"})
    assert feasible({"model": "mlp"}) is None and feasible({"model": "hvae"}) is None
    assert "not an option of --model conv" in feasible({"model": "conv"})
    feasible = feasibility("digits", {"model": "mlp", "gaussian_std": 0.2}, {"likelihood"})
    assert feasible({}) is None  # the likelihood not yet drawn: not judged
    assert feasible({"likelihood": "gaussian"}) is None
    assert feasible({"likelihood": "bernoulli"}) is None  # left out of that trial's options
    feasible = feasibility("digits", {"model": "mlp"}, {"likelihood", "mixtures"})
    assert feasible({"mixtures": 3}) is None  # a range judged beside the drawn likelihood
    assert feasible({"mixtures": 3, "likelihood": "logistic-mixture"}) is None
    bad = feasible({"mixtures": 0, "likelihood": "logistic-mixture"})
    assert "mixtures=: expected a positive" in bad
