"""bench/disentangle.py's own parts, without training: the study's data subset and the table
of means over seeds (values worked out by hand)."""

import argparse

import numpy as np

from bench import disentangle
from vaekit.data import dsprites


def fake_run(model: str, seed: int, mig: float) -> dict:
    """A results row with every number the table reads (MIG as given, the rest fixed)."""
    row = {m: 0.5 for m in disentangle.METRICS}
    row.update(model=model, seed=seed, mig=mig, epochs=3, train_seconds=120.0,
               eval_seconds=30.0, eval_examples=1000, num_train=900, budget_minutes=2.0,
               threads=1)  # fmt: skip
    return row


def test_table_gives_mean_and_sample_sd_over_seeds_and_the_best_model_by_mean_mig():
    results = {
        "a": fake_run("VAE", 0, 0.1),
        "b": fake_run("VAE", 1, 0.3),
        # beta-VAE's best single run (0.35) beats every VAE run, but its mean (0.15) does not
        "c": fake_run("beta-VAE (beta 4)", 0, 0.35),
        "d": fake_run("beta-VAE (beta 4)", 1, -0.05),
    }
    text = disentangle.table(results)
    vae = next(line for line in text.splitlines() if line.startswith("| VAE |"))
    # mean 0.2, sample sd sqrt(((0.1)^2 + (0.1)^2) / 1) = 0.1414
    assert "| 0.200 ± 0.141 |" in vae
    assert "| 0,1 |" in vae
    name, run = disentangle.best(results)
    assert (name, run["seed"]) == ("VAE", 1)
    assert "Best by mean MIG: VAE (its best run: seed 1, MIG 0.300)" in text


def test_one_seed_shows_a_dash_for_the_spread():
    assert disentangle.mean_sd([0.25]) == "0.250 ± –"


def test_study_data_holds_the_drawn_dsprites_images_with_their_factor_codes(tmp_path):
    args = argparse.Namespace(max_train=20, eval_points=8, runs=str(tmp_path))
    data, codes, extra = disentangle.study_data(args)
    assert extra == {"pixels": "binary"} and codes.shape == (8, 5)
    with np.load(data) as stored:
        x_train, x_test, y_test = stored["x_train"], stored["x_test"], stored["y_test"]
    assert x_train.shape == (20, 1, 64, 64) and x_test.shape == (8, 1, 64, 64)
    assert set(np.unique(x_test)) <= {0, 255}
    np.testing.assert_array_equal(y_test, codes[:, 0])  # the label is the shape
    # Each evaluation image is the one dSprites draws for its factors.
    values = dsprites.factor_values(codes)
    drawn = dsprites.render(codes[:, 0], *(values[:, k] for k in range(1, 5)))
    np.testing.assert_array_equal(x_test[:, 0] // 255, drawn)
    # The same arguments give the same evaluation set (a later sitting scores alike).
    assert np.array_equal(disentangle.study_data(args)[1], codes)
