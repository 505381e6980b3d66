"""A run directory written by vaekit 0.1.0 (schema 1, tests/frozen/run-v1) keeps loading and
giving the same outputs; resuming it migrates its config explicitly."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import vaekit
from vaekit.api.run import reopen_dataset
from vaekit.errors import VaekitError
from vaekit.models.io import SCHEMA_VERSION, read_config

FROZEN = Path(__file__).parents[1] / "frozen"
RUN = FROZEN / "run-v1"


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((FROZEN / "run-v1-expected.json").read_text())


def test_the_frozen_run_gives_the_outputs_it_gave(expected):
    model = vaekit.load(RUN)
    x = reopen_dataset(model.run_config).test.scaled(slice(0, 4))

    def close(got: torch.Tensor, want: list) -> None:
        torch.testing.assert_close(got, torch.tensor(want), rtol=1e-5, atol=1e-5)

    close(model.sample(3, seed=0).flatten(1)[:, :16], expected["sample_seed0"])
    close(model.reconstruct(x).flatten(1)[:, :16], expected["reconstruct_first4"])
    close(model.encode(x).mean, expected["encode_mean_first4"])
    report = vaekit.evaluate(model, iw_samples=10, max_examples=50, seed=0, probe=False)
    want = expected["eval_k10_seed0"]
    assert report["elbo"]["loss"] == pytest.approx(want["elbo"]["loss"], abs=1e-4)
    assert report["iwae"]["nll"] == pytest.approx(want["iwae"]["nll"], abs=1e-4)


def test_schema_1_is_migrated_with_the_values_it_was_read_with():
    config = read_config(RUN)
    assert json.loads((RUN / "config.json").read_text())["schema_version"] == 1
    assert config["schema_version"] == SCHEMA_VERSION
    assert config["model"]["prior"] == "standard-normal" and config["model"]["num_classes"] == 0
    assert config["training"]["iw_train"] == 1 and config["training"]["patience"] is None
    assert config["data"]["color"] == "auto"


def test_the_frozen_run_resumes_and_its_config_is_rewritten_in_the_current_schema(tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    result = vaekit.resume(run, epochs=3, progress=False)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    config = json.loads((run / "config.json").read_text())
    assert config["schema_version"] == SCHEMA_VERSION
    assert config["training"]["precision_resolved"] == "fp32"  # what the resumed steps ran in
    assert vaekit.resume(run, epochs=4, progress=False).history[-1]["epoch"] == 4


def test_the_frozen_run_resumes_from_the_command_line(tmp_path: Path):
    """`vaekit train --resume` checks the recorded options against the declared ones: a kind's
    own options the run predates (a time series' --window, ...) read as their defaults."""
    from tests.cli.test_cli import vaekit as command

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    assert command("train", "--resume", "--out", run, "--epochs", "3", "--quiet") == 0
    config = json.loads((run / "config.json").read_text())
    assert config["schema_version"] == SCHEMA_VERSION and config["model"]["kind"] == "image"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["model"].pop("latent_dim"), "model: missing key 'latent_dim'"),
        (lambda c: c["training"].pop("beta"), "training: missing key 'beta'"),
        (lambda c: c["training"].update(lr="fast"), "training.lr: expected a number"),
        (lambda c: c["model"].update(latent_dims=3), "unknown key 'latent_dims'"),
        (lambda c: c.update(schema_version=SCHEMA_VERSION + 1), f"version {SCHEMA_VERSION + 1}"),
    ],
)
def test_a_current_config_with_a_missing_or_bad_key_is_refused(tmp_path: Path, edit, message):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    vaekit.resume(run, epochs=3, progress=False)  # now the current schema
    config = json.loads((run / "config.json").read_text())
    edit(config)
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(VaekitError, match=message):
        vaekit.load(run)
        vaekit.resume(run, epochs=4, progress=False)


def test_a_schema_2_run_loads_and_resumes_with_the_new_options_off(tmp_path: Path):
    """Schema 2 lacks the keys schema 3 added (time_budget, ema, flow_steps, flow_hidden):
    they are read as off, explicitly (models.io.migrate_v2)."""
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    vaekit.resume(run, epochs=3, progress=False, report=False)  # now the current schema
    config = json.loads((run / "config.json").read_text())
    for section, key in (("training", "time_budget"), ("training", "ema"),
                         ("model", "flow_steps"), ("model", "flow_hidden")):  # fmt: skip
        del config[section][key]
    (run / "config.json").write_text(json.dumps({**config, "schema_version": 2}))
    migrated = read_config(run)
    assert migrated["schema_version"] == SCHEMA_VERSION
    assert migrated["model"]["flow_steps"] == 0 and migrated["training"]["ema"] == 0.0
    assert migrated["training"]["time_budget"] is None
    vaekit.load(run)
    assert vaekit.resume(run, epochs=4, progress=False, report=False).history[-1]["epoch"] == 4


def test_a_schema_3_run_loads_and_resumes_as_one_of_images(tmp_path: Path):
    """Schema 3 lacks what schema 4 added for audio and text (models.io.migrate_v3): they
    are read as absent, and the run is an image run."""
    from vaekit.models.io import _V3_ABSENT

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    vaekit.resume(run, epochs=3, progress=False, report=False)  # now the current schema
    config = json.loads((run / "config.json").read_text())
    for section, keys in _V3_ABSENT.items():
        for key in keys:
            config[section].pop(key, None)
    del config["model"]["kind"], config["model"]["schema"]  # schema 6's
    config["model"]["table"] = None  # schema 3's one record: none for images
    (run / "config.json").write_text(json.dumps({**config, "schema_version": 3}))
    migrated = read_config(run)
    assert migrated["schema_version"] == SCHEMA_VERSION
    assert migrated["model"]["kind"] == "image" and migrated["model"]["schema"] is None
    assert migrated["data"]["n_mels"] is None
    model = vaekit.load(run)
    assert model.kind.name == "image" and model.schema is None
    assert vaekit.resume(run, epochs=4, progress=False, report=False).history[-1]["epoch"] == 4


def test_a_schema_4_run_resumes_with_its_report_on(tmp_path: Path):
    """Schema 4 does not record --report (models.io.migrate_v4): such a run resumed with a
    report unless told --no-report, and is read so."""
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    vaekit.resume(run, epochs=3, progress=False, report=False)  # now the current schema
    config = json.loads((run / "config.json").read_text())
    assert config["training"].pop("report") is False
    (run / "config.json").write_text(json.dumps({**config, "schema_version": 4}))
    migrated = read_config(run)
    assert migrated["schema_version"] == SCHEMA_VERSION and migrated["training"]["report"]
    vaekit.load(run)
    assert vaekit.resume(run, epochs=4, progress=False, report=False).history[-1]["epoch"] == 4
