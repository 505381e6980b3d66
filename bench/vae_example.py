"""The PyTorch VAE example (pytorch/examples, vae/main.py), reproduced as a user runs it, on
Fashion-MNIST: the reference that bench/example_vs_vaekit.py times as a whole process.

What it reproduces of the example, on a CPU:
  - a Dataset that keeps the uint8 images and turns each one into a PIL image and then into a
    float tensor in [0, 1] (what torchvision's MNIST dataset with ToTensor does per example),
    read by a DataLoader with batch 128, shuffled for training, with default collation and
    no worker processes (the example passes num_workers=1 only on CUDA);
  - the model 784-400-20 (ReLU, sigmoid output), Adam at 1e-3, seed 1;
  - the loss: summed binary cross-entropy plus the closed-form KL, `loss.item()` every step
    and a log line every 10 batches;
  - after every epoch, a pass over the test set (the first batch's 8 inputs and
    reconstructions saved as a PNG grid) and 64 decoded prior samples saved as a PNG grid.

torchvision does not import beside this machine's torch wheel, so reading IDX files and
saving grids (2-pixel padding, like torchvision's save_image) are written here.

    .venv/bin/python bench/vae_example.py [--epochs 10] [--out bench-results-example]
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

FOLDER = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4 : 4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


class IdxImages(Dataset):
    """uint8 images, each returned as a (1, 28, 28) float tensor through PIL."""

    def __init__(self, prefix: str) -> None:
        self.images = torch.from_numpy(read_idx(FOLDER / f"{prefix}-images-idx3-ubyte.gz").copy())
        self.labels = torch.from_numpy(read_idx(FOLDER / f"{prefix}-labels-idx1-ubyte.gz").copy())

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = Image.fromarray(self.images[i].numpy(), mode="L")
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).float().div(255)
        return pixels.unsqueeze(0), int(self.labels[i])


class ExampleVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def loss_of(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def save_grid(images: torch.Tensor, path: Path, ncols: int) -> None:
    n, pad = len(images), 2
    rows = (n + ncols - 1) // ncols
    canvas = torch.zeros(rows * (28 + pad) + pad, ncols * (28 + pad) + pad)
    for i, image in enumerate(images.view(n, 28, 28)):
        r, c = divmod(i, ncols)
        top, left = pad + r * (28 + pad), pad + c * (28 + pad)
        canvas[top : top + 28, left : left + 28] = image
    Image.fromarray((canvas * 255 + 0.5).clamp(0, 255).byte().numpy()).save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", default="bench-results-example")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    torch.manual_seed(1)
    train_loader = DataLoader(IdxImages("train"), batch_size=128, shuffle=True)
    test_loader = DataLoader(IdxImages("t10k"), batch_size=128, shuffle=False)
    model = ExampleVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for batch, (x, _) in enumerate(train_loader):
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = loss_of(recon, x, mu, logvar)
            loss.backward()
            total += loss.item()
            optimizer.step()
            if batch % 10 == 0:
                seen = f"{batch * len(x)}/{len(train_loader.dataset)}"
                print(f"epoch {epoch} [{seen}] {loss.item() / len(x):.4f}")
        print(f"====> Epoch: {epoch} Average loss: {total / len(train_loader.dataset):.4f}")
        model.eval()
        test = 0.0
        with torch.no_grad():
            for i, (x, _) in enumerate(test_loader):
                recon, mu, logvar = model(x)
                test += loss_of(recon, x, mu, logvar).item()
                if i == 0:
                    save_grid(
                        torch.cat([x[:8], recon.view(-1, 1, 28, 28)[:8]]),
                        out / f"reconstruction_{epoch}.png",
                        8,
                    )
            print(f"====> Test set loss: {test / len(test_loader.dataset):.4f}")
            save_grid(model.decode(torch.randn(64, 20)), out / f"sample_{epoch}.png", 8)


if __name__ == "__main__":
    main()
