"""Each model family's config holds its own options (issue 26): ModelConfig.family_options
holds exactly the options the family declares (vaekit.kinds.base.Family.options), config.json
records only those (schema 7), a schema 6 file is migrated, and a user's explicit option that
only another family takes is refused in one line."""

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz
from vaekit.api.options import options_from_config
from vaekit.errors import VaekitError
from vaekit.kinds import base
from vaekit.kinds.base import BUILTIN_FAMILIES, Family, family
from vaekit.models.factory import ModelConfig, build_vae, parameter_count
from vaekit.models.families import build_mlp
from vaekit.models.io import SCHEMA_VERSION, migrate_v6, model_config_from, read_config
from vaekit.options import Int, Option
from vaekit.train_options import DEFAULTS

# What each of vaekit's own families reads from its config beyond the shared options
# (vaekit.models.families), written out here so that a change to a declaration shows.
OWN = {
    "mlp": ("hidden_dims",),
    "conv": ("channels",),
    "resnet": ("channels", "depth"),
    "hvae": ("hidden_dims", "layers"),
    "hconv": ("channels", "depth", "layers"),
    "vqvae": ("channels", "depth", "codebook_size", "commitment", "codebook_decay"),
    "rnn": (),
}
OLD_KEYS = ("hidden_dims", "channels", "depth", "layers")
TINY = {"latent_dim": 2, "epochs": 1, "batch_size": 16, "progress": False, "report": False}


def test_each_builtin_family_declares_the_options_its_builder_reads():
    assert {f.name: f.options for f in BUILTIN_FAMILIES} == OWN


@pytest.mark.parametrize("name", [f for f in OWN if f != "rnn"])
def test_a_config_holds_exactly_its_familys_options_at_their_defaults(name):
    config = ModelConfig.create((1, 8, 8), family=name, latent_dim=2)
    assert config.family_options == {k: DEFAULTS[k] for k in OWN[name]}
    for key in OLD_KEYS:
        assert not hasattr(config, key)  # no field for any family's own option
    config.validate()


def test_create_sorts_keywords_and_refuses_another_familys_option():
    config = ModelConfig.create((1, 8, 8), family="resnet", channels=[4], latent_dim=3)
    assert config.family_options == {"channels": (4,), "depth": 2}  # a list read as a tuple
    assert config.latent_dim == 3
    with pytest.raises(VaekitError) as err:
        ModelConfig.create((1, 8, 8), family="mlp", channels=(4,))
    assert str(err.value) == "--channels is not an option of --model mlp (its own: --hidden-dims)"
    with pytest.raises(VaekitError, match=re.escape("--model rnn (its own: none)")):
        ModelConfig.create((1, 1, 5), family="rnn", depth=1)
    with pytest.raises(VaekitError, match="unknown option 'widths'"):
        ModelConfig.create((1, 8, 8), family="mlp", widths=(4,))


def test_validate_refuses_another_familys_option_and_a_bad_value():
    foreign = ModelConfig((1, 8, 8), family="conv", family_options={"layers": 3})
    with pytest.raises(VaekitError, match="--layers is not an option of --model conv"):
        foreign.validate()
    bad = ModelConfig((1, 8, 8), family="conv", family_options={"channels": (0,)})
    with pytest.raises(VaekitError, match="--channels: widths must be positive"):
        bad.validate()


def test_the_family_options_build_the_model():
    small = ModelConfig.create((1, 8, 8), family="mlp", hidden_dims=(5,), latent_dim=2)
    widths = [m.out_features for m in build_vae(small).encoder.modules()
              if isinstance(m, torch.nn.Linear)]  # fmt: skip
    assert widths[0] == 5


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("family-options")
    data = write_npz(folder / "d.npz", n=64, size=6)
    return vaekit.train(str(data), out=folder / "R", model="mlp", hidden_dims=(8,), **TINY).path


def test_a_new_mlp_runs_config_records_only_its_own_options(mlp_run: Path):
    model = json.loads((mlp_run / "config.json").read_text())["model"]
    assert model["family_options"] == {"hidden_dims": [8]}
    assert not set(OLD_KEYS) & set(model)  # "channels" and the others are gone
    assert json.loads((mlp_run / "config.json").read_text())["schema_version"] == SCHEMA_VERSION
    # On resume, the options another family takes read as their defaults.
    options = options_from_config(read_config(mlp_run))
    assert options["hidden_dims"] == (8,) and options["channels"] == DEFAULTS["channels"]


def as_schema_6(run: Path, other: dict) -> dict:
    """Rewrite `run`'s config.json as schema 6 wrote it: every family's options in the model
    section, its own at their values and the others (`other`) at whatever the file held."""
    config = json.loads((run / "config.json").read_text())
    model = config["model"]
    own = model.pop("family_options")
    config["model"] = {**model, **other, **own}
    config["schema_version"] = 6
    (run / "config.json").write_text(json.dumps(config))
    return config


def test_a_schema_6_run_is_migrated_loads_and_resumes(mlp_run: Path, tmp_path: Path):
    run = tmp_path / "old"
    shutil.copytree(mlp_run, run)
    before = vaekit.load(run).sample(2, seed=0)
    as_schema_6(run, {"channels": [4, 4], "depth": 3, "layers": 5})
    migrated = read_config(run)
    assert migrated["schema_version"] == SCHEMA_VERSION
    assert migrated["model"]["family_options"] == {"hidden_dims": [8]}
    assert not set(OLD_KEYS) & set(migrated["model"])
    torch.testing.assert_close(vaekit.load(run).sample(2, seed=0), before)
    # The command line resumes it (its recorded options checked), and rewrites it as schema 7.
    assert cli("train", "--resume", "--out", run, "--epochs", "2", "--quiet") == 0
    rewritten = json.loads((run / "config.json").read_text())
    assert rewritten["schema_version"] == SCHEMA_VERSION
    assert rewritten["model"]["family_options"] == {"hidden_dims": [8]}


def test_migrate_v6_keeps_each_familys_own_and_drops_the_others():
    six = {"hidden_dims": [16], "channels": [4, 8], "depth": 1, "layers": 3}
    # the families schema 6 knew: those whose options it had (vqvae came with schema 9)
    for name, own in ((n, o) for n, o in OWN.items() if set(o) <= set(six)):
        config = {"schema_version": 6, "model": {"family": name, "latent_dim": 2, **six}}
        model = migrate_v6(config)["model"]
        assert model == {"family": name, "latent_dim": 2,
                         "family_options": {k: six[k] for k in own}}  # fmt: skip
    unknown = migrate_v6({"model": {"family": "gone", **six}})["model"]
    assert unknown == {"family": "gone", "family_options": {}}  # loading says it is unknown


def test_a_config_json_missing_one_of_its_familys_options_is_refused(mlp_run: Path):
    config = read_config(mlp_run)
    config["model"]["family_options"] = {}
    with pytest.raises(VaekitError, match="family_options: missing key 'hidden_dims'"):
        model_config_from(config)
    config["model"]["family_options"] = {"hidden_dims": [8], "channels": [4]}
    with pytest.raises(VaekitError, match="--channels is not an option of --model mlp"):
        model_config_from(config)


def test_another_familys_option_is_refused_by_the_command_line(tmp_path: Path, capsys):
    data = write_npz(tmp_path / "d.npz", n=32, size=6)
    out = tmp_path / "R"
    code = cli("train", "--data", data, "--model", "mlp", "--channels", "4", "--out", out)
    assert code != 0 and not out.exists()
    assert capsys.readouterr().err.strip().splitlines() == [
        "vaekit: error: --channels is not an option of --model mlp (its own: --hidden-dims)"
    ]
    toml = tmp_path / "c.toml"
    toml.write_text('model = "resnet"\nhidden-dims = [8]\n')
    assert cli("train", "--data", data, "--config", toml, "--out", out) != 0
    assert "--hidden-dims is not an option of --model resnet (its own: --channels, --depth)" in (
        capsys.readouterr().err
    )


def test_another_familys_option_is_refused_by_vaekit_train(tmp_path: Path):
    images = (np.random.default_rng(0).random((32, 6, 6)) * 255).astype(np.uint8)
    with pytest.raises(VaekitError, match=re.escape("--depth is not an option of --model conv")):
        vaekit.train(images, out=tmp_path / "R", depth=1, **TINY)  # conv: the default family
    with pytest.raises(VaekitError, match=re.escape("--layers is not an option of --model mlp")):
        vaekit.train(images, out=tmp_path / "R", model="mlp", layers=2, **TINY)
    assert not (tmp_path / "R").exists()


def test_options_left_at_their_defaults_are_not_refused(tmp_path: Path):
    """Every family's options have defaults; only those the user gives are checked, so a
    conv run given its own --channels and no other family's option trains."""
    images = (np.random.default_rng(0).random((32, 8, 8)) * 255).astype(np.uint8)
    run = vaekit.train(images, out=tmp_path / "R", channels=(4,), **TINY)
    assert run.config["model"]["family_options"] == {"channels": [4]}
    assert family(run.config["model"]["family"]).options == ("channels",)


# A third party's family with an option of its own (Family.declares): vaekit's mlp with each
# hidden width multiplied by --scale.
SCALE = Option("scale", Int(least=1), 2, "wide-mlp: multiplies each hidden width", "model",
               section="model")  # fmt: skip
WIDE = Family("wide-mlp", "a third party's wide mlp", f"{__name__}:build_wide",
              options=("hidden_dims", "scale"), declares=(SCALE,))  # fmt: skip


def build_wide(config, likelihood, parts):
    own = config.family_options
    widths = tuple(w * own["scale"] for w in own["hidden_dims"])
    mlp = dataclasses.replace(config, family="mlp", family_options={"hidden_dims": widths})
    return build_mlp(mlp, likelihood, parts)


def test_a_family_declares_an_option_of_its_own(monkeypatch):
    monkeypatch.setattr(base.FAMILIES, "known", dict(base.FAMILIES.known))
    base.register_family(WIDE)
    config = ModelConfig.create((1, 6, 6), family="wide-mlp", hidden_dims=(4,), latent_dim=2)
    assert config.family_options == {"hidden_dims": (4,), "scale": 2}  # its default filled in
    linear = next(m for m in build_vae(config).encoder.modules() if isinstance(m, torch.nn.Linear))
    assert linear.out_features == 8
    wider = ModelConfig.create((1, 6, 6), family="wide-mlp", hidden_dims=(4,), scale=3)
    assert parameter_count(wider) > parameter_count(config)
    with pytest.raises(VaekitError, match="--scale: expected a positive integer, got 0"):
        ModelConfig.create((1, 6, 6), family="wide-mlp", scale=0).validate()
    with pytest.raises(VaekitError) as err:
        ModelConfig.create((1, 6, 6), family="mlp", scale=2)
    assert str(err.value) == "--scale is not an option of --model mlp (its own: --hidden-dims)"


def test_a_familys_option_named_as_another_option_is_refused(monkeypatch):
    from vaekit.train_options import TRAIN_OPTIONS

    clash = Option("lr", Int(least=1), 2, "a second --lr", "model", section="model")
    monkeypatch.setattr(base.FAMILIES, "known", dict(base.FAMILIES.known))
    base.register_family(Family("clash-mlp", "clashes", f"{__name__}:build_wide",
                                options=("lr",), declares=(clash,)))  # fmt: skip
    with pytest.raises(VaekitError, match="option 'lr' is declared twice: rename one of them"):
        list(TRAIN_OPTIONS)


def odd_widths_only(config):
    """A third party's check (Family.checker): why its config cannot be built, or None."""
    widths = config.family_options["hidden_dims"]
    return None if all(w % 2 for w in widths) else f"--hidden-dims must be odd, got {widths}"


def test_a_family_declares_a_check_of_its_own(monkeypatch):
    monkeypatch.setattr(base.FAMILIES, "known", dict(base.FAMILIES.known))
    odd = Family("odd-mlp", "an mlp of odd widths", "vaekit.models.families:build_mlp",
                 options=("hidden_dims",), checker=f"{__name__}:odd_widths_only")  # fmt: skip
    base.register_family(odd)
    ModelConfig.create((1, 6, 6), family="odd-mlp", hidden_dims=(5,)).validate()
    with pytest.raises(VaekitError, match=r"^--hidden-dims must be odd, got \(4,\)$"):
        ModelConfig.create((1, 6, 6), family="odd-mlp", hidden_dims=(4,)).validate()
    # vaekit's own hierarchies check theirs the same way
    with pytest.raises(VaekitError, match="--model hvae needs at least 2 --layers, got 1"):
        ModelConfig.create((1, 6, 6), family="hvae", layers=1).validate()
