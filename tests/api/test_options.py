"""Config files: keys mirror the options, flags win, mistakes name the key."""

import inspect
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit
from tests.conftest import write_npz
from vaekit.api.options import DEFAULTS, OPTION_NAMES, read_options_file
from vaekit.api.train import train
from vaekit.errors import VaekitError


def test_options_and_train_share_their_defaults():
    params = inspect.signature(train).parameters
    for name in OPTION_NAMES:
        assert params[name].default == getattr(DEFAULTS, name), name


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
        ("latent-dims = 8", "unknown key 'latent_dims'"),
        ('latent-dim = "8"', "latent_dim: expected int, got '8'"),
        ("hidden-dims = 400", "hidden_dims: expected a list"),
        ('binarize = "yes"', "binarize: expected bool"),
        ("epochs = [", "not valid TOML"),
    ],
)
def test_bad_option_files_name_the_key(tmp_path: Path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(VaekitError, match=message.replace("[", r"\[")) as info:
        read_options_file(path)
    assert str(path) in str(info.value)


def test_command_line_flags_win_over_the_file(tmp_path: Path):
    data = write_npz(tmp_path / "d.npz", n=100, size=8)
    config = tmp_path / "c.toml"
    config.write_text(
        f'data = "{data}"\nmodel = "mlp"\nhidden-dims = [12]\nlatent-dim = 5\n'
        'epochs = 3\noptimizer = "sgd"\nlr = 0.01\nbinarize = true\n'
    )
    out = tmp_path / "run"
    assert vaekit("train", "--config", config, "--epochs", "1", "--out", out, "--quiet") == 0
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["model"]["hidden_dims"] == [12] and recorded["model"]["latent_dim"] == 5
    assert recorded["training"]["epochs"] == 1  # the flag won
    assert recorded["training"]["optimizer"] == "sgd" and recorded["training"]["binarize"]


def test_a_bad_config_file_is_a_one_line_error(tmp_path: Path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("learning-rate = 0.1\n")
    assert vaekit("train", "--config", config) == 1
    err = capsys.readouterr().err
    assert "unknown key 'learning_rate'" in err and len(err.strip().splitlines()) == 1
    assert vaekit("train", "--config", tmp_path / "none.toml") == 1
    assert "config file not found" in capsys.readouterr().err
