"""The datasets vaekit knows by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaekit.data.formats import read_idx_dataset
from vaekit.data.registry import DatasetSpec, FileSpec, register

IDX_ROLES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

FASHION_SHA256 = {
    "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def _read_digits(paths: dict[str, Path], spec: DatasetSpec) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[:, None, :, :]  # values 0..16
    return {"train_images": images, "train_labels": bunch.target.astype(np.int64)}


register(
    DatasetSpec(
        name="fashion-mnist",
        description="Zalando's 28x28 gray clothing images, 60k train / 10k test, 10 classes",
        shape=(1, 28, 28),
        max_value=255,
        reader=read_idx_dataset,
        files=tuple(FileSpec(r, IDX_ROLES[r], FASHION_SHA256[r]) for r in IDX_ROLES),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    )
)

register(
    DatasetSpec(
        name="digits",
        description="scikit-learn's 8x8 handwritten digits, 1,797 images, values 0-16",
        shape=(1, 8, 8),
        max_value=16,
        reader=_read_digits,
        has_test_split=False,
        classes=tuple(str(d) for d in range(10)),
    )
)
