"""An audio model (ModelConfig.kind "audio"): its schema checked against the shape and options, and
the likelihood's mean left unclamped (standardized spectrograms are real numbers)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vaekit.errors import VaekitError
from vaekit.kinds.audio.data_mel import AudioFeatures
from vaekit.models.factory import ModelConfig, build_vae

FEATURES = AudioFeatures(8000, 0.25, 256, 128, 8, (-50.0,) * 8, (10.0,) * 8, ("a", "b"))
CONFIG = ModelConfig.create(FEATURES.shape, likelihood="gaussian", latent_dim=2, channels=(4,),
                            kind="audio", schema=FEATURES.to_json())  # fmt: skip


def test_an_audio_models_mean_is_not_clamped_to_the_pixel_range():
    torch.manual_seed(0)
    vae = build_vae(CONFIG)
    image = build_vae(dataclasses.replace(CONFIG, kind="image", schema=None))
    for model in (vae, image):
        last = [m for m in model.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
        torch.nn.init.constant_(last[-1].bias, -3.0)  # a mean far below 0
    z = torch.zeros(2, 2)
    assert vae.mean_image(z).max() < -1  # standardized dB below the bin means: kept
    assert image.mean_image(z).min() == 0  # pixels: clamped to [0, 1]
    x = torch.randn(2, *FEATURES.shape) * 3
    assert vae.reconstruct(x).shape == x.shape and vae.reconstruct(x).max() < -1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"shape": (1, 8, 10)}, "have shape"),
        ({"likelihood": "bernoulli"}, "does not fit audio"),
        ({"likelihood": "logistic", "autoregressive": 2}, "does not fit audio"),
        ({"schema": {**FEATURES.to_json(), "std": [0.0] * 8}}, "std positive"),
        ({"schema": {**FEATURES.to_json(), "extra": 1}}, "expected the keys"),
    ],
)
def test_a_wrong_audio_config_is_refused(change, message):
    with pytest.raises(VaekitError, match=message):
        dataclasses.replace(CONFIG, **change).validate()
