"""The ResNet encoder and decoder: exact shapes, gradients, learning, batch independence."""

import pytest
import torch

from vaekit.models.networks import ResidualBlock, ResNetDecoder, ResNetEncoder

SHAPES = [(1, 28, 28), (3, 32, 32), (3, 64, 64), (1, 7, 9), (1, 1, 1)]


def _pair(shape, depth, params=1, channels=(4, 8), latent=3, seed=0):
    torch.manual_seed(seed)
    encoder = ResNetEncoder(shape, latent, channels, depth)
    decoder = ResNetDecoder(shape, latent, channels, depth, params)
    return encoder, decoder


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("params", [1, 2, 30])
def test_shapes(shape, depth, params):
    encoder, decoder = _pair(shape, depth, params)
    qz = encoder(torch.rand(2, *shape))
    assert qz.mean.shape == (2, 3) and qz.std.shape == (2, 3)
    out = decoder(qz.mean)
    assert out.shape == (2, shape[0] * params, shape[1], shape[2])
    assert torch.isfinite(out).all()


def test_depth_counts_blocks_which_start_as_identity():
    for depth in (0, 1, 3):
        encoder, decoder = _pair((1, 8, 8), depth, channels=(4, 8, 16))
        for net in (encoder, decoder):
            blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
            assert len(blocks) == 3 * depth
    block = ResidualBlock(4)
    x = torch.randn(2, 4, 5, 3)
    torch.testing.assert_close(block(x), x)


@pytest.mark.parametrize("depth", [0, 2])
def test_gradients_reach_every_parameter(depth):
    encoder, decoder = _pair((1, 7, 9), depth)
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    x = torch.rand(4, 1, 7, 9)
    losses = []
    # Zero-initialized convs block the gradient to the conv before them at first, so check
    # after one step, when every block's last conv has moved away from zero.
    for _ in range(2):
        optimizer.zero_grad()
        loss = (decoder(encoder(x).mean) - x).pow(2).mean()
        loss.backward()
        losses.append(loss.item())
        optimizer.step()
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all()
        assert p.grad.abs().sum() > 0
    assert losses[1] < losses[0]


def test_autoencodes_random_images():
    encoder, decoder = _pair((1, 8, 8), 1, channels=(32,), latent=32)
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=3e-3)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = (decoder(encoder(x).mean) - x).pow(2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Noise has no structure: to beat the average image the codes must tell the images apart.
    average_image_mse = (x - x.mean(0)).pow(2).mean().item()
    assert losses[-1] < 0.1 * losses[0]
    assert losses[-1] < 0.5 * average_image_mse


def test_eval_output_does_not_depend_on_the_batch():
    encoder, decoder = _pair((3, 12, 10), 2)
    encoder.eval()
    decoder.eval()
    x = torch.rand(5, 3, 12, 10)
    with torch.no_grad():
        alone = encoder(x[:1])
        batch = encoder(x)
        torch.testing.assert_close(alone.mean, batch.mean[:1])
        torch.testing.assert_close(alone.logvar, batch.logvar[:1])
        z = torch.randn(5, 3)
        torch.testing.assert_close(decoder(z[:1]), decoder(z)[:1])
