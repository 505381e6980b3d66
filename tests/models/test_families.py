"""The model family registry: `--model`'s choices are its names, a family published through the
`vaekit.families` entry points trains like vaekit's own, and an unknown one is one line."""

from importlib import metadata

import numpy as np
import pytest

import vaekit
from tests.cli.test_cli import vaekit as cli
from vaekit.errors import VaekitError
from vaekit.kinds import base
from vaekit.kinds.base import BUILTIN_FAMILIES, Family, family, family_names
from vaekit.models.families import build_mlp
from vaekit.train_options import TRAIN_OPTIONS

# It builds vaekit's mlp, so it declares mlp's widths as its own option.
MYFAM = Family("myfam", "a third party's family", f"{__name__}:build_myfam",
               options=("hidden_dims",))  # fmt: skip


def build_myfam(config, likelihood, parts):
    """A third party's builder: vaekit's mlp, marked so the test can tell it was called."""
    model = build_mlp(config, likelihood, parts)
    model.built_by_myfam = True
    return model


@pytest.fixture
def registry(monkeypatch):
    """A fresh copy of the registry, with entry points not yet looked up, restored after."""
    monkeypatch.setattr(base.FAMILIES, "known", dict(base.FAMILIES.known))
    monkeypatch.setattr(base.FAMILIES, "loaded", False)


def publish(monkeypatch, *entries: metadata.EntryPoint) -> None:
    """Fake installed packages that publish `entries` in the vaekit.families group."""
    real = metadata.entry_points

    def entry_points(**select):
        if select == {"group": base.ENTRY_POINT_GROUP}:
            return metadata.EntryPoints(entries)
        return real(**select)

    monkeypatch.setattr(metadata, "entry_points", entry_points)


def entry(name: str, value: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name, value, base.ENTRY_POINT_GROUP)


def test_the_model_choices_and_help_are_the_registry(capsys):
    option = TRAIN_OPTIONS["model"]
    assert option.choices == family_names()
    assert family_names()[: len(BUILTIN_FAMILIES)] == tuple(f.name for f in BUILTIN_FAMILIES)
    assert cli("train", "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "{" + ",".join(family_names()) + "}" in text
    for declared in BUILTIN_FAMILIES:
        assert f"{declared.name} ({declared.help})" in " ".join(option.help.split())
        assert declared.load_builder().__name__ == f"build_{declared.name}"
    assert [f.name for f in BUILTIN_FAMILIES if f.hierarchical] == ["hvae", "hconv"]


def test_an_unknown_family_is_one_line():
    with pytest.raises(VaekitError) as err:
        family("transformer")
    assert str(err.value) == (
        "unknown model 'transformer': choose from mlp, conv, resnet, hvae, hconv, vqvae, rnn"
    )
    with pytest.raises(VaekitError, match="builder 'nowhere:build' cannot be imported"):
        Family("broken", "no builder", "nowhere:build").load_builder()


def test_a_family_from_an_entry_point_trains(tmp_path, monkeypatch, registry):
    publish(monkeypatch, entry("myfam", f"{__name__}:MYFAM"))
    assert family_names()[-1] == "myfam" and TRAIN_OPTIONS["model"].choices == family_names()
    images = (np.random.default_rng(0).random((60, 8, 8)) * 255).astype(np.uint8)
    run = vaekit.train(
        images,
        model="myfam",
        hidden_dims=(16,),
        latent_dim=2,
        epochs=1,
        batch_size=16,
        report=False,
        out=tmp_path / "run",
        progress=False,
    )
    assert run.config["model"]["family"] == "myfam" and len(run.history) == 1
    assert run.model.vae.built_by_myfam
    assert vaekit.load(run.path).vae.built_by_myfam  # loading rebuilds it through the registry


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{__name__}:build_myfam", "is not a vaekit.kinds.base.Family"),
        (f"{__name__}:NOWHERE", "cannot be loaded (AttributeError"),
    ],
)
def test_a_bad_entry_point_is_one_line(monkeypatch, registry, value, message):
    publish(monkeypatch, entry("myfam", value))
    with pytest.raises(VaekitError, match=message.replace("(", r"\(")):
        family_names()


def test_a_family_cannot_take_a_name_twice(monkeypatch, registry):
    publish(monkeypatch, entry("mlp", f"{__name__}:MINE"))
    with pytest.raises(VaekitError, match="'mlp' is declared twice"):
        family("mlp")


MINE = Family("mlp", "someone else's mlp", f"{__name__}:build_myfam")
