"""Options: each is declared once, and the command's flags, TOML keys, vaekit.train's keywords,
config.json and the resume rule all follow from that declaration."""

import dataclasses
import inspect
import json
import re
from pathlib import Path

import pytest

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz
from vaekit.api.options import (
    DERIVED_KEYS,
    check_resume_options,
    options_from_config,
    read_options_file,
    resolve_options,
)
from vaekit.api.train import train
from vaekit.errors import VaekitError
from vaekit.kinds.base import BUILTIN_FAMILIES
from vaekit.models.factory import ModelConfig
from vaekit.options import Duration, Flag, Float, Int, Names, Option, Source, Text, Widths
from vaekit.train_options import TRAIN_OPTIONS, resumable_flags
from vaekit.training.loop import TrainConfig


def example(option: Option):
    """A valid value of the option other than its default."""
    kind = option.kind
    if option.choices:
        return option.choices[-1]
    if isinstance(kind, Flag):
        return not option.default
    if isinstance(kind, Widths):
        return (3, 5)
    if isinstance(kind, Duration):
        return 90.0
    if isinstance(kind, Names):
        return kind.of or ("a", "b")  # where the names are given, those
    if isinstance(kind, Int):
        return max(kind.least, 1) + 2
    if isinstance(kind, Float):
        return 0.5
    if isinstance(kind, Source):
        return "digits"
    if isinstance(kind, Text):
        return "gaussian:0.1" if option.name == "train_noise" else "some-text"
    raise AssertionError(f"no example for {option.name}")


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(map(json.dumps, value)) + "]"
    return json.dumps(value)


def help_text(capsys) -> str:
    """The help with all whitespace removed (argparse wraps lines, also at hyphens)."""
    assert cli("train", "--help") == 0
    return "".join(capsys.readouterr().out.split())


def test_every_declared_option_is_a_flag_a_toml_key_and_a_keyword(tmp_path: Path, capsys):
    text = help_text(capsys)
    params = inspect.signature(vaekit.train).parameters
    for option in TRAIN_OPTIONS:
        assert option.flag in text, option.name
        if option.show_default:
            # the help states the declared default (then what kinds of data use instead)
            shown = "".join(option.help_text().split()).removesuffix(")")
            assert shown in text, option.name
        assert params[option.name].default == option.default, option.name
        value = example(option)
        for key in (option.name, option.name.replace("_", "-")):
            path = tmp_path / "c.toml"
            path.write_text(f"{key} = {toml_value(value)}\n")
            assert read_options_file(path) == {option.name: value}, key
        assert resolve_options({option.name: value})[option.name] == value


def test_the_configs_take_their_fields_and_defaults_from_the_declarations():
    model = {o.config_key: o for o in TRAIN_OPTIONS.in_section("model")}
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    derived = {"shape", "num_classes", "custom", "kind", "schema", "family_options"}
    assert set(fields) - set(model) == derived == set(DERIVED_KEYS["model"])
    # The options a family declares as its own are in family_options, each at its default.
    own = {key for f in BUILTIN_FAMILIES for key in f.options}
    assert set(model) - set(fields) == own
    for key, option in model.items():
        if key in own:
            configs = [ModelConfig.create((1, 8, 8), f.name) for f in BUILTIN_FAMILIES
                       if key in f.options]  # fmt: skip
            assert all(c.family_options[key] == option.default for c in configs), key
        else:
            assert fields[key].default == option.default, key
    training = {o.name: o for o in TRAIN_OPTIONS.in_section("training")}
    for field in dataclasses.fields(TrainConfig):
        if field.name == "objective_options":  # an installed objective's own, none here
            assert TrainConfig().objective_options == {}
            continue
        assert field.default == training[field.name].default, field.name
    assert set(training) - {f.name for f in dataclasses.fields(TrainConfig)} == {
        "device",
        "report",
        "log",
    }


def test_what_may_change_on_resume_is_the_declared_list_everywhere(capsys):
    """vaekit.resume's keywords, `train --help` and the README name the options declared
    resumable, and no others."""
    resumable = [o for o in TRAIN_OPTIONS if o.resumable]
    params = inspect.signature(vaekit.resume).parameters
    python_only = {"rundir", "progress", "callbacks", "active_units"}
    assert set(params) - python_only == {o.name for o in resumable}
    flags = resumable_flags()
    assert [f.split("/")[0] for f in re.split(r", | and ", flags)] == [o.flag for o in resumable]
    assert "".join(f"only {flags} may change".split()) in help_text(capsys)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `--resume` |"))
    listed = row.split("only ", 1)[1].split(" may change")[0]
    assert re.findall(r"`(--[a-z/-]+)`", listed) == re.split(r", | and ", flags)


def test_a_new_option_is_one_declaration(tmp_path: Path, monkeypatch, capsys):
    """A made-up option, declared and nothing else: it is a flag with its default in the help,
    a TOML key, a keyword of vaekit.train, recorded in config.json, and held on --resume."""
    made_up = Option("made_up", Int(least=1), 3, "a made-up option", "training", "training")
    monkeypatch.setitem(TRAIN_OPTIONS.declared, "made_up", made_up)
    assert "--made-upMADE_UPamade-upoption(default:3)" in help_text(capsys)
    config = tmp_path / "c.toml"
    config.write_text("made-up = 5\n")
    assert read_options_file(config) == {"made_up": 5}

    data = write_npz(tmp_path / "d.npz", n=60, size=8)
    tiny = dict(model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1, progress=False)
    run = train(data, out=tmp_path / "a", made_up=7, **tiny)
    assert run.config["training"]["made_up"] == 7
    assert json.loads((run.path / "config.json").read_text())["training"]["made_up"] == 7
    assert options_from_config(run.config)["made_up"] == 7
    with pytest.raises(VaekitError, match="--made-up 8 differs from the run's 7"):
        check_resume_options(run.config, {"made_up": 8})
    flags = ["--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2", "--epochs", "1"]
    assert cli("train", "--data", data, *flags, "--made-up", "9", "--out", tmp_path / "b") == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["training"]["made_up"] == 9
    assert vaekit.resume(tmp_path / "b", epochs=2, progress=False).history[-1]["epoch"] == 2
    with pytest.raises(VaekitError, match="made_up=: expected a positive integer, got 0"):
        train(data, made_up=0, **tiny)


def test_read_options_file(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text("latent-dim = 8\nhidden_dims = [64, 32]\nbinarize = true\nlr = 1\n")
    assert read_options_file(path) == {
        "latent_dim": 8,
        "hidden_dims": (64, 32),
        "binarize": True,
        "lr": 1.0,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latent-dims = 8", "unknown option 'latent-dims' (did you mean 'latent-dim'?)"),
        ("latent_dims = 8", "unknown option 'latent_dims' (did you mean 'latent_dim'?)"),
        ('latent-dim = "8"', "latent_dim: expected an integer, got '8'"),
        ("hidden-dims = 400", "hidden_dims: expected a list of widths"),
        ('binarize = "yes"', "binarize: expected true or false"),
        ('likelihood = "poisson"', "likelihood: expected one of bernoulli, gaussian"),
        ("lr = -1", "lr: expected a positive number, got -1"),
        ("val-fraction = 1.5", "val_fraction: expected a number in [0, 1), got 1.5"),
        ("train-part = 0", "train_part: expected a number in (0, 1), got 0"),  # 0 refused
        ("epochs = [", "not valid TOML"),
        ("epochs = " + "[" * 5000 + "]" * 5000, "not valid TOML"),  # was a RecursionError
        ("latent_dim = 4\nlatent-dim = 8", "'latent_dim' and 'latent-dim' both set 'latent_dim'"),
        ("lr = 1\nkl-warmup = 5\nkl_warmup = 5", "'kl-warmup' and 'kl_warmup' both set"),
    ],
)
def test_bad_option_files_name_the_key(tmp_path: Path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(VaekitError, match=re.escape(message)) as info:
        read_options_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"latent_dims": 8}, "unknown option 'latent_dims' (did you mean 'latent_dim'?)"),
        ({"epochs": 0}, "epochs=: expected a positive integer, got 0"),
        ({"model": "transformer"}, "model=: expected one of mlp, conv, resnet, hvae"),
        ({"hidden_dims": 400}, "hidden_dims=: expected a list of widths, got 400"),
        ({"beta": float("nan")}, "beta=: expected a number >= 0, got nan"),
        ({"patience": 1.5}, "patience=: expected an integer, got 1.5"),
    ],
)
def test_bad_keywords_of_train_are_checked_before_any_work(tmp_path: Path, given, message):
    with pytest.raises(VaekitError, match=re.escape(message)):
        train(tmp_path / "no-such-data", out=tmp_path / "run", **given)
    assert not (tmp_path / "run").exists()


def test_command_line_flags_win_over_the_file(tmp_path: Path):
    data = write_npz(tmp_path / "d.npz", n=100, size=8)
    config = tmp_path / "c.toml"
    config.write_text(
        f'data = "{data}"\nmodel = "mlp"\nhidden-dims = [12]\nlatent-dim = 5\n'
        'epochs = 3\noptimizer = "sgd"\nlr = 0.01\nbinarize = true\n'
    )
    out = tmp_path / "run"
    assert cli("train", "--config", config, "--epochs", "1", "--out", out, "--quiet") == 0
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["model"]["family_options"] == {"hidden_dims": [12]}
    assert recorded["model"]["latent_dim"] == 5
    assert recorded["training"]["epochs"] == 1  # the flag won
    assert recorded["training"]["optimizer"] == "sgd" and recorded["training"]["binarize"]


def test_a_bad_config_file_or_flag_is_a_one_line_error(tmp_path: Path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("learning-rate = 0.1\n")
    assert cli("train", "--config", config) == 1
    err = capsys.readouterr().err
    assert "unknown option 'learning-rate'" in err and len(err.strip().splitlines()) == 1
    assert cli("train", "--config", tmp_path / "none.toml") == 1
    assert "config file not found" in capsys.readouterr().err
    # "" trained without any file; a folder was "[Errno 21] Is a directory"; a second
    # --config left the first unread (train's and tune's alike)
    for command in ("train", "tune"):
        assert cli(command, "--config", "", "--out", tmp_path / "o") == 1
        assert "--config: no file given" in capsys.readouterr().err
        assert cli(command, "--config", tmp_path, "--out", tmp_path / "o") == 1
        assert f"{tmp_path}: a folder, not a TOML config file" in capsys.readouterr().err
        assert cli(command, "--config", config, "--config", config, "--out", tmp_path / "o") == 2
        assert "--config: given twice" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert cli("train", "--hidden-dims", "32,x") == 2
    assert "expected comma-separated integers like 32,64, got '32,x'" in capsys.readouterr().err


def test_text_defaults_give_way_to_the_choices_they_do_not_fit(tmp_path):
    from vaekit.api.options import fit_options_to_data, resolve_options

    corpus = tmp_path / "c.txt"
    corpus.write_text("a b\n")

    def fitted(**given):
        return fit_options_to_data(resolve_options({"data": str(corpus), **given}), given)

    plain = fitted()
    assert (plain["kl_warmup"], plain["free_bits"], plain["model"]) == (2000, 0.1, "rnn")
    assert fitted(prior="mog")["free_bits"] == 0.0 and fitted(prior="mog")["kl_warmup"] == 2000
    for given in ({"iw_train": 4}, {"language_model": True}):
        chosen = fitted(**given)
        assert (chosen["kl_warmup"], chosen["free_bits"]) == (0, 0.0), given
    assert fitted(free_bits=0.5)["free_bits"] == 0.5


def test_the_kind_of_the_data_chooses_the_defaults_and_the_refusals(tmp_path):
    """fit_options_to_data asks the kind open_dataset will read the data as (its sources),
    never the data's suffix alone: its model part's defaults and refusals, and the options
    only another kind takes."""
    from vaekit.api.options import data_kind, fit_options_to_data

    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n3,4\n5,6\n")

    def fitted(data, **given):
        return fit_options_to_data(resolve_options({"data": str(data), **given}), given)

    assert data_kind(str(table)).name == "table" and data_kind("digits").name == "image"
    assert data_kind(object()) is None  # no source takes it: opening it says so
    chosen = fitted(table)
    assert (chosen["model"], chosen["likelihood"]) == ("mlp", "mixed")
    assert fitted(table, likelihood="gaussian")["likelihood"] == "gaussian"  # given: kept
    assert fitted("digits") == resolve_options({"data": "digits"})  # images: no defaults
    for data, given, message in [
        (table, {"binarize": True}, "--binarize is for images, not tables"),
        ("digits", {"target": "y"}, "--target is for tables (.csv or .parquet data)"),
        (table, {"n_mels": 8}, "--n-mels is for audio (a folder of .wav files)"),
        (table, {"vocab_size": 8}, "--vocab-size is for text (.txt data), and --data"),
    ]:
        with pytest.raises(VaekitError, match=re.escape(message)):
            fitted(data, **given)
    # a .csv read as a series (its first column a time), or read as one by --kind: the
    # refusal says how it is read and how it would be, where it blamed the file alone
    series = tmp_path / "s.csv"
    series.write_text("timestamp,cpu\n" + "".join(f"2024-01-01 00:0{i}:00,{i}\n" for i in range(9)))
    for data, given in ((series, {"target": "cpu"}), (table, {"id_column": "a", "kind": "series"})):
        with pytest.raises(VaekitError, match=re.escape(
            "is not one (read as a time series; if it holds another kind of data, say --kind "
            "table)")):  # fmt: skip
            fitted(data, **given)


def test_an_option_that_would_change_nothing_beside_the_choices_is_refused(tmp_path, capsys):
    """Another likelihood's or prior's own option (--mixtures with bernoulli), and one that
    needs another above 0 (--ar-width without --autoregressive), are refused in one line
    before any work, where they were recorded in config.json and did nothing; the same ones
    beside their choice, or a kind's default choice (a table's mixed likelihood), are taken."""
    from vaekit.api.options import fit_options_to_data

    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n3,4\n5,6\n")

    def fitted(data, **given):
        return fit_options_to_data(resolve_options({"data": str(data), **given}), given)

    for given, message in [
        ({"mixtures": 3}, "--mixtures is an option of --likelihood logistic-mixture or "
                          "logistic-mixture-coupled, not of --likelihood bernoulli"),
        ({"gaussian_std": 0.2}, "--gaussian-std is an option of --likelihood gaussian or mixed"),
        ({"prior_components": 4}, "--prior-components is an option of --prior mog or vamp, "
                                  "not of --prior standard-normal (its own: none)"),
        ({"prior": "vamp", "mixtures": 2}, "--mixtures is an option of --likelihood"),
        ({"ar_width": 8}, "--ar-width does something only with --autoregressive above 0"),
        ({"ar_kernel": 5, "autoregressive": 0}, "--ar-kernel does something only with"),
        ({"flow_hidden": 16}, "--flow-hidden does something only with --flow-steps above 0"),
        ({"likelihood": "gaussian", "gaussian_variance": "pixel", "gaussian_std": 0.2},
         "--gaussian-std does nothing with --gaussian-variance pixel"),
        ({"crop": "none"}, "--crop does nothing without --image-size"),
    ]:  # fmt: skip
        with pytest.raises(VaekitError, match=re.escape(message)):
            fitted("digits", **given)
    assert fitted("digits", likelihood="logistic-mixture", mixtures=3)["mixtures"] == 3
    assert fitted("digits", prior="mog", prior_components=4)["prior_components"] == 4
    assert fitted("digits", autoregressive=1, ar_width=8)["ar_width"] == 8
    assert fitted("digits", flow_steps=1, flow_hidden=16)["flow_hidden"] == 16
    assert fitted(table, gaussian_variance="pixel")["gaussian_variance"] == "pixel"  # mixed
    with pytest.raises(VaekitError, match="--gaussian-std does nothing with"):  # (a table's)
        fitted(table, gaussian_variance="pixel", gaussian_std=0.3)
    assert fitted(table, gaussian_variance="global", gaussian_std=0.3)["gaussian_std"] == 0.3
    with pytest.raises(VaekitError, match="--target-is-label does nothing without --target"):
        fitted(table, target_is_label=True)
    text = tmp_path / "lines.txt"
    text.write_text("the cat sat .\na dog ran .\n" * 20)
    for given in ({"beta": 3.0}, {"kl_warmup": 10}, {"free_bits": 0.5}):
        with pytest.raises(VaekitError, match="does nothing with --language-model"):
            fitted(text, language_model=True, **given)
    assert fitted(text, beta=3.0)["beta"] == 3.0  # a sentence VAE's KL is there to weigh
    with pytest.raises(VaekitError, match="--mixtures is an option of"):
        fitted(table, mixtures=2)
    # the command line and vaekit.train say the same, and leave nothing behind
    out = tmp_path / "R"
    assert cli("train", "--data", "digits", "--mixtures", "3", "--out", out) != 0
    assert capsys.readouterr().err.strip().count("\n") == 0 and not out.exists()
    with pytest.raises(VaekitError, match="--prior-components is an option of --prior mog"):
        train("digits", out=out, prior_components=3, epochs=1, progress=False)
    assert not out.exists()


def test_a_search_drops_an_option_its_trials_choices_do_not_use():
    """`vaekit tune --prior-components 20` with the prior searched: the mog and vamp trials
    take it, the standard-normal ones leave it out (not refused), as another objective's
    options were; a likelihood is judged only where the options name one."""
    from vaekit.api.tune_space import of_its_choices

    fixed = {"prior_components": 20, "ar_width": 8, "tc_weight": 3.0}
    assert of_its_choices({**fixed, "prior": "standard-normal"}) == {"prior": "standard-normal"}
    both = {**fixed, "prior": "mog", "autoregressive": 1, "objective": "tcvae"}
    assert of_its_choices(both) == both
    assert of_its_choices({"gaussian_std": 0.3}) == {"gaussian_std": 0.3}  # a kind's choice
    assert of_its_choices({"gaussian_std": 0.3, "likelihood": "bernoulli"}) == {
        "likelihood": "bernoulli"
    }
