"""The reference configuration trained by plain eager PyTorch with nothing around it: the
practical floor, on this machine, for a trainer built on PyTorch's modules and optimizer as
they are (vaekit does this work and more).

The work is that of `vaekit train` in bench/example_vs_vaekit.py: MLP 784-400-20 (ReLU), a
Bernoulli likelihood on the gray pixels, the closed-form KL, Adam 1e-3 (fused), batch 128
over all 60,000 Fashion-MNIST training images shuffled each epoch, 10 epochs, then one pass
over the 10,000 test images in float32. What it leaves out is everything a usable tool adds:
no validation, checkpoints, NaN checks, progress, metrics, pictures or files of any kind.
The images are decoded once into one float tensor, batches are slices of it, and the step is
the bare forward, backward and optimizer step.

    .venv/bin/python bench/bare_loop.py [--epochs 10] [--precision fp32|bf16] [--compile]
        [--flush-subnormals]

It prints the final test loss as the example does ("Test set loss: ..." in nats per image),
for bench/example_vs_vaekit.py, which times it as a whole process beside the others.
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

FOLDER = Path("/usr/share/datasets/fashion-mnist")


def images(prefix: str) -> torch.Tensor:
    """The IDX file's images as float32 rows in [0, 1]: (N, 784)."""
    data = gzip.decompress((FOLDER / f"{prefix}-images-idx3-ubyte.gz").read_bytes())
    n, h, w = struct.unpack(">3I", data[4:16])
    pixels = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8)
    return pixels.view(n, h * w).float().div_(255)


class VAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(784, 400)
        self.posterior = nn.Linear(400, 40)  # means and log-variances in one product
        self.up = nn.Linear(20, 400)
        self.logits = nn.Linear(400, 784)

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The batch's summed -ELBO (nats), in float32."""
        mu, log_var = self.posterior(F.relu(self.hidden(x))).float().chunk(2, dim=1)
        z = mu + eps * torch.exp(0.5 * log_var)
        logits = self.logits(F.relu(self.up(z))).float()
        rec = (x * logits - F.softplus(logits)).sum()
        kl = 0.5 * (mu.square() + log_var.exp() - 1 - log_var).sum()
        return kl - rec


def flush(optimizer: torch.optim.Optimizer) -> None:
    """Adam's subnormal averages set to 0 (--flush-subnormals)."""
    tiny = torch.finfo(torch.float32).tiny
    for state in optimizer.state.values():
        for name in ("exp_avg", "exp_avg_sq"):
            state[name].masked_fill_(state[name].abs() < tiny, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--compile", action="store_true", help="torch.compile the loss")
    parser.add_argument(
        "--flush-subnormals",
        action="store_true",
        help="set Adam's subnormal averages to 0 every 64 steps, as vaekit's loop does on a CPU",
    )
    parser.add_argument("--out", help="ignored: this script writes no files")
    args = parser.parse_args()
    torch.manual_seed(1)
    train, test = images("train"), images("t10k")
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    loss_of = torch.compile(model) if args.compile else model
    bf16 = args.precision == "bf16"
    steps = 0
    for _ in range(args.epochs):
        order = torch.randperm(len(train))
        for start in range(0, len(train), 128):
            x = train[order[start : start + 128]]
            eps = torch.randn(len(x), 20)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_of(x, eps) / len(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if args.flush_subnormals and steps % 64 == 0:
                flush(optimizer)
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(test), 1000):
            x = test[start : start + 1000]
            total += float(model(x, torch.randn(len(x), 20)))
    print(f"====> Test set loss: {total / len(test):.4f}")


if __name__ == "__main__":
    main()
