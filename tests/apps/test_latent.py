"""Interpolation, traversal and embeddings on a tiny trained model."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vaekit
from tests.cli.test_cli import vaekit as cli
from vaekit.api import apps
from vaekit.apps import latent
from vaekit.errors import VaekitError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("apps") / "run"
    return vaekit.train("digits", out=out, model="mlp", hidden_dims=(32,), latent_dim=4,
                        epochs=3, progress=False)  # fmt: skip


def test_interpolation_ends_decode_the_endpoints_means(run):
    model = run.model
    test = apps.Inputs(model).test
    x = test.scaled(torch.tensor([0, 5]))
    with torch.no_grad():
        ends = model.vae.mean_image(model.vae.posterior_mean(x))
    for method in ("lerp", "slerp"):
        images = apps.interpolate(model, "0", "5", steps=7, method=method)
        assert images.shape == (7, 1, 8, 8)
        torch.testing.assert_close(images[[0, -1]], ends, atol=1e-5, rtol=0)


def test_slerp_keeps_to_the_great_circle():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 1.0])
    t = torch.linspace(0, 1, 5)
    path = latent.slerp(a, b, t)
    torch.testing.assert_close(path[[0, -1]], torch.stack([a, b]))
    torch.testing.assert_close(path.norm(dim=1), 3 + t * (1 - 3))  # norms interpolate linearly
    angles = torch.atan2(path[:, 1], path[:, 0])
    torch.testing.assert_close(angles, t * math.pi / 2)  # evenly spaced angles
    torch.testing.assert_close(latent.slerp(a, 2 * a, t), latent.lerp(a, 2 * a, t))


def test_grid_corners(run):
    model = run.model
    images = apps.interpolate_grid(model, ["0", "1", "2", "3"], steps=4)
    assert images.shape == (16, 1, 8, 8)
    x = apps.Inputs(model).test.scaled(torch.tensor([0, 1, 2, 3]))
    with torch.no_grad():
        corners = model.vae.reconstruct(x)
    torch.testing.assert_close(images[[0, 3, 12, 15]], corners, atol=1e-5, rtol=0)


def test_traversal_orders_by_kl_and_varies_one_dimension(run):
    model = run.model
    images, dims, kl = apps.traverse(model, index="2", dims=[0, 1, 2, 3], span=2.0, steps=5)
    assert images.shape == (20, 1, 8, 8) and sorted(dims) == [0, 1, 2, 3]
    assert kl == sorted(kl, reverse=True)
    z = model.posterior_mean(apps.Inputs(model).images(["2"]))[0]
    row = z.repeat(5, 1)
    row[:, dims[1]] = torch.linspace(-2, 2, 5)
    with torch.no_grad():
        torch.testing.assert_close(images[5:10], model.vae.mean_image(row))
    with pytest.raises(VaekitError, match="latent dimension 9 does not exist"):
        apps.traverse(model, dims=[9])


def test_inputs_from_files(run, tmp_path: Path):
    model = run.model
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "white.png")
    Image.fromarray(np.full((8, 8, 3), 51, np.uint8), "RGB").save(tmp_path / "gray-rgb.png")
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8), np.uint8))
    names = ["white.png", "x.npy", "gray-rgb.png"]
    x = apps.Inputs(model).images([*(str(tmp_path / name) for name in names), "4"])
    assert x.shape == (6, 1, 8, 8) and float(x[0].min()) == 1.0 and float(x[1:4].max()) == 0.0
    assert torch.equal(x[4], torch.full((1, 8, 8), 0.2))  # an RGB file of gray pixels is gray
    torch.testing.assert_close(x[5:], apps.Inputs(model).first(5)[4:])
    with pytest.raises(VaekitError, match="past the end"):
        apps.Inputs(model).images(["100000"])
    with pytest.raises(VaekitError, match="neither a test-split index nor an existing file"):
        apps.Inputs(model).images(["nope.png"])


def test_embed(run):
    result = apps.embed(run.model)
    assert result["mean"].shape == (180, 4) and result["std"].shape == (180, 4)
    assert (result["std"] > 0).all() and result["labels"].shape == (180,)
    # The embedding is q(z|x)'s own mean and spread, not a draw from it: compared with the
    # encoder's distribution itself, a sampled z would miss by about one std per dimension.
    test = apps.Inputs(run.model).test
    with torch.no_grad():
        qz = run.model.vae.encode(test.scaled(torch.arange(len(test))))
    torch.testing.assert_close(result["mean"], qz.mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(result["std"], qz.std, atol=1e-5, rtol=1e-5)
    assert torch.equal(result["labels"], test.labels)


def test_commands_write_what_they_say(run, tmp_path: Path, capsys):
    assert cli("interpolate", run.path, "--from", "0", "--to", "1", "--steps", "6",
               "-o", tmp_path / "s.png", "--npy", tmp_path / "s.npy") == 0  # fmt: skip
    assert np.load(tmp_path / "s.npy").shape == (6, 1, 8, 8)
    assert Image.open(tmp_path / "s.png").size == (6 * 58 + 2, 58 + 2)
    assert cli("traverse", run.path, "--dims", "0-2", "--steps", "5", "-o", tmp_path / "t.png") == 0
    assert Image.open(tmp_path / "t.png").size == (5 * 58 + 2, 3 * 58 + 2)
    assert cli("embed", run.path, "-o", tmp_path / "e.npy", "--with-std") == 0
    assert np.load(tmp_path / "e.npy").shape == (180, 8)
    assert np.load(tmp_path / "e_labels.npy").shape == (180,)
    # The values: each test image's posterior mean, then its standard deviation.
    want = apps.embed(run.model)
    both = torch.cat([want["mean"], want["std"]], 1).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), both, rtol=1e-6)
    assert cli("embed", run.path, "0", "1", "-o", tmp_path / "e.csv") == 0
    lines = (tmp_path / "e.csv").read_text().splitlines()
    assert lines[0] == "input,mean_0,mean_1,mean_2,mean_3" and len(lines) == 3
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1"]  # each input as given
    from vaekit.api.inputs import Inputs

    q = run.model.encode(Inputs(run.model).first(2))  # test images 0 and 1, encoded here
    written = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_allclose(written, q.mean.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert cli("interpolate", run.path, "--from", "0") == 1
    assert "give --from A --to B" in capsys.readouterr().err
    assert cli("embed", run.path, "--with-std", "-o", tmp_path / "e.parquet") == 0
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 180 and table.column_names[-1] == "label"
    assert len(table.column_names) == 9
    assert cli("embed", run.path, "-o", tmp_path / "e.txt") == 1
    assert cli("traverse", run.path, "--dims", "a-b") == 2
