"""Run directories from untrusted sources: a config.json with wrong types, unknown keys or
absurd sizes, and a model.safetensors cut short, damaged or forged, each end in one clear
VaekitError -- before any large allocation -- or load as they should."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import save_file

import vaekit
from tests.fuzzing import damaged, memory_limit, reads_or_refuses
from vaekit.config import to_dict
from vaekit.errors import VaekitError
from vaekit.models.factory import MAX_PARAMETERS, ModelConfig, build_vae, parameter_count
from vaekit.models.io import WEIGHTS_FILE, save_weights, write_config

SMALL = ModelConfig.create((1, 6, 6), family="mlp", latent_dim=2, hidden_dims=(8,))


def _write_run(folder: Path, config: ModelConfig = SMALL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    write_config(folder, {"model": to_dict(config), "data": {"max_value": 255}})
    save_weights(folder, build_vae(config))
    return folder


@functools.cache
def _valid_run() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = _write_run(Path(tmp) / "run")
        return {p.name: p.read_bytes() for p in folder.iterdir()}


def _run_with(tmp: Path, **files: bytes) -> Path:
    folder = tmp / "run"
    folder.mkdir()
    for name, content in {**_valid_run(), **files}.items():
        (folder / name).write_bytes(content)
    return folder


def _load(folder: Path, damaged_file: str) -> vaekit.Model | None:
    """The model loaded from `folder`, or None where vaekit refused it in one line naming the
    damaged file (reads_or_refuses fails the test on any other outcome)."""
    return reads_or_refuses(lambda: vaekit.load(folder), folder / damaged_file, folder)


def _refused_or_working(model: vaekit.Model | None) -> bool:
    """Refused, or a model that decodes to finite images."""
    if model is None:
        return True
    return bool(torch.isfinite(model.vae.decode(torch.zeros(1, model.latent_dim)).mean).all())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"latent_dim": 10**9}, "parameters, more than"),
        ({"family_options": {"hidden_dims": [10**9]}}, "parameters, more than"),
        ({"shape": [3, 100000, 100000]}, "values per image"),
        ({"latent_dim": 10**30}, "more than the"),
        ({"family_options": {"hidden_dims": [8] * 10**5}}, "layers, more than 64"),
        ({"family": "resnet", "family_options": {"channels": [4], "depth": 10**6}},
         "depth: 1000000 layers"),
        ({"family": "conv", "family_options": {"channels": [2**20, 2**20]}},
         "parameters, more than"),
        ({"likelihood": "logistic-mixture", "mixtures": 10**8}, "parameters, more than"),
        ({"prior": "vamp", "prior_components": 10**8}, "parameters, more than"),
        ({"custom": {"encoder": {"class": "torch.nn:Linear", "kwargs": {
            "in_features": 10**6, "out_features": 10**6}}}}, "parameters, more than"),
    ],
)  # fmt: skip
def test_absurd_sizes_are_refused_before_allocating(tmp_path: Path, changes, message):
    config = {**to_dict(SMALL), **changes}
    folder = _run_with(tmp_path)
    write_config(folder, {"model": config, "data": {"max_value": 255}})
    with memory_limit(1 << 30), pytest.raises(VaekitError, match=message) as info:
        vaekit.load(folder)
    assert "config.json" in str(info.value)


def test_the_parameter_count_is_the_built_models(tmp_path: Path):
    """The budget counts what would be built: the same number as the built model."""
    for family, sizes in (("mlp", {"hidden_dims": (16,)}), ("conv", {}), ("resnet", {}),
                          ("hvae", {"hidden_dims": (16,)})):  # fmt: skip
        config = ModelConfig.create((3, 8, 8), family=family, latent_dim=3, **sizes)
        model = build_vae(config)
        built = sum(t.numel() for t in [*model.parameters(), *model.buffers()])
        assert parameter_count(config) == built
    assert MAX_PARAMETERS == 10**9


def test_training_options_asking_for_absurd_steps_are_refused(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8)).astype(np.uint8)
    with memory_limit(1 << 30), pytest.raises(VaekitError, match="--iw-train"):
        vaekit.train(images, model="mlp", iw_train=10**8, out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
    with pytest.raises(VaekitError, match="parameters, more than"):
        vaekit.train(images, model="mlp", hidden_dims=[10**8], out=tmp_path / "r", progress=False)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@pytest.mark.fuzz
@given(data=st.data())
def test_config_with_any_value_for_a_key(data: st.DataObject):
    config = json.loads(_valid_run()["config.json"])
    section = data.draw(st.sampled_from(["model", "data", None]), label="section")
    target = config if section is None else config[section]
    key = data.draw(st.sampled_from([*sorted(target), "unknown"]), label="key")
    if data.draw(st.booleans(), label="remove") and key in target:
        del target[key]
    else:
        target[key] = data.draw(JSON, label="value")
    with tempfile.TemporaryDirectory() as tmp:
        folder = _run_with(Path(tmp), **{"config.json": json.dumps(config).encode()})
        assert _refused_or_working(_load(folder, "config.json"))


@pytest.mark.fuzz
@pytest.mark.parametrize("name", ["config.json", WEIGHTS_FILE])
@given(data=st.data())
def test_damaged_run_files(name: str, data: st.DataObject):
    content = data.draw(damaged(_valid_run()[name]), label=name)
    with tempfile.TemporaryDirectory() as tmp:
        assert _refused_or_working(_load(_run_with(Path(tmp), **{name: content}), name))


@pytest.mark.fuzz
@given(shape=st.lists(st.integers(0, 2**40), min_size=1, max_size=3))
def test_weights_claiming_any_shape(shape: list[int]):
    """A header whose first tensor claims another shape (the data left as it was)."""
    weights = _valid_run()[WEIGHTS_FILE]
    size = int.from_bytes(weights[:8], "little")
    header = json.loads(weights[8 : 8 + size])
    first = sorted(k for k in header if k != "__metadata__")[0]
    header[first]["shape"] = shape
    text = json.dumps(header).encode()
    with tempfile.TemporaryDirectory() as tmp:
        content = len(text).to_bytes(8, "little") + text + weights[8 + size :]
        assert _refused_or_working(
            _load(_run_with(Path(tmp), **{WEIGHTS_FILE: content}), WEIGHTS_FILE)
        )


def test_a_changed_weight_byte_is_an_error(tmp_path: Path):
    weights = bytearray(_valid_run()[WEIGHTS_FILE])
    weights[-3] ^= 0x40  # inside the last tensor's data: still a well-formed file
    folder = _run_with(tmp_path, **{WEIGHTS_FILE: bytes(weights)})
    with pytest.raises(VaekitError, match="corrupt: its tensors do not match"):
        vaekit.load(folder)


def test_truncated_weights_and_foreign_tensors(tmp_path: Path):
    weights = _valid_run()[WEIGHTS_FILE]
    folder = _run_with(tmp_path, **{WEIGHTS_FILE: weights[: len(weights) // 2]})
    with pytest.raises(VaekitError, match="not a readable safetensors file"):
        vaekit.load(folder)
    state = {k: v.double() for k, v in build_vae(SMALL).state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))  # float64, and no digest recorded
    with pytest.raises(VaekitError, match=r"is torch\.float64, not torch\.float32"):
        vaekit.load(folder)


def test_weights_without_a_digest_still_load(tmp_path: Path):
    """Files written before the digest was recorded (like tests/frozen/run-v1) load."""
    folder = _run_with(tmp_path)
    model = build_vae(SMALL)
    save_file(dict(model.state_dict()), str(folder / WEIGHTS_FILE))
    loaded = vaekit.load(folder)
    z = torch.zeros(1, 2)
    torch.testing.assert_close(loaded.vae.decode(z).mean, model.eval().decode(z).mean)


def test_a_config_naming_a_module_never_imports_it(tmp_path: Path, monkeypatch):
    """Importing a module runs its code: a shared run's config.json naming a module beside it
    (on sys.path, as the working folder is under `python -m vaekit`) ran that module."""
    (tmp_path / "payload_beside_the_run.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(tmp_path / 'ran')!r}).write_text('yes')\n"
        "from torch.nn import Linear as Nope\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    encoder = {"class": "payload_beside_the_run:Nope",
               "kwargs": {"in_features": 36, "out_features": 4}}  # fmt: skip
    config = {**to_dict(SMALL), "custom": {"encoder": encoder}}
    folder = _run_with(tmp_path)
    write_config(folder, {"model": config, "data": {"max_value": 255}})
    with pytest.raises(VaekitError, match="'payload_beside_the_run' is not imported, and vaekit"):
        vaekit.load(folder)
    assert not (tmp_path / "ran").exists()


def test_a_custom_module_that_does_not_fit_is_one_line(tmp_path: Path):
    """An nn.Module that is no prior (no latent_dim): an AttributeError deep in the build."""
    config = {**to_dict(SMALL), "custom": {"prior": {
        "class": "torch.nn:Linear", "kwargs": {"in_features": 4, "out_features": 4}}}}  # fmt: skip
    folder = _run_with(tmp_path)
    write_config(folder, {"model": config, "data": {"max_value": 255}})
    with pytest.raises(VaekitError, match=r"custom modules \(prior Linear\) do not fit"):
        vaekit.load(folder)


def test_a_config_without_its_data_section_needs_the_data_given(tmp_path: Path):
    """eval and report of a run whose config.json lost its data section: a KeyError."""
    from tests.conftest import write_npz

    data = write_npz(tmp_path / "d.npz", n=60, size=6)
    run = vaekit.train(data, model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1,
                       out=tmp_path / "r", report=False, progress=False).path  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    del config["data"]
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(VaekitError, match=r"config.json names no data .* give the data"):
        vaekit.evaluate(run, iw_samples=2)
    assert vaekit.evaluate(run, data=data, iw_samples=2)["split_size"] == 6


def test_a_misspelled_key_in_config_json_is_refused_naming_it(tmp_path: Path):
    """A key nothing reads (a hand edit's typo) was left silently unused where refused."""
    from tests.conftest import write_npz

    data = write_npz(tmp_path / "d.npz", n=60, size=6)
    run = vaekit.train(data, model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1,
                       out=tmp_path / "r", report=False, progress=False).path  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    for section, key in (("training", "epochz"), ("model", "latnt_dim")):
        bad = {**config, section: {**config[section], key: 3}}
        (run / "config.json").write_text(json.dumps(bad))
        with pytest.raises(VaekitError, match=rf"config.json: {section}: unknown key '{key}'"):
            vaekit.evaluate(run, iw_samples=2)
