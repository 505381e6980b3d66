"""The datasets vaekit knows by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaekit.data.cifar import find_cifar, read_cifar
from vaekit.data.folders import Decode
from vaekit.data.formats import read_amat_dataset, read_idx_dataset
from vaekit.data.matlab import read_olivetti, read_svhn
from vaekit.data.spec import DatasetSpec, FileSpec, ImageList, register
from vaekit.errors import VaekitError

IDX_ROLES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the decompressed IDX files. Fashion-MNIST's were computed here from Debian's
# dataset-fashion-mnist (whose decompressed bytes match the published files); MNIST's are the
# values published for the original files and widely pinned.
FASHION_SHA256 = {
    "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MNIST_SHA256 = {
    "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
BINARIZED_MNIST_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"


def _idx_files(sha256: dict[str, str], base_url: str) -> tuple[FileSpec, ...]:
    return tuple(
        FileSpec(role, name, sha256[role], f"{base_url}{name}.gz")
        for role, name in IDX_ROLES.items()
    )


def _read_digits(paths: dict[str, Path], spec: DatasetSpec | None) -> dict[str, np.ndarray]:
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
        files=_idx_files(FASHION_SHA256, FASHION_URL),
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
        name="mnist",
        description="LeCun et al.'s 28x28 handwritten digits, 60k train / 10k test",
        shape=(1, 28, 28),
        max_value=255,
        reader=read_idx_dataset,
        files=_idx_files(MNIST_SHA256, MNIST_URL),
        classes=tuple(str(d) for d in range(10)),
    )
)

register(
    DatasetSpec(
        name="binarized-mnist",
        description="Larochelle & Murray's fixed binarization of MNIST, 50k train / 10k "
        "validation / 10k test, no labels (no checksum published: checked by shape and values)",
        shape=(1, 28, 28),
        max_value=1,
        pixels="binary",
        reader=read_amat_dataset,
        files=tuple(
            FileSpec(
                role,
                f"binarized_mnist_{split}.amat",
                None,
                f"{BINARIZED_MNIST_URL}binarized_mnist_{split}.amat",
            )
            for role, split in (("train", "train"), ("val", "valid"), ("test", "test"))
        ),
    )
)

register(
    DatasetSpec(
        name="digits",
        description="scikit-learn's 8x8 handwritten digits, 1,797 images, values 0-16",
        shape=(1, 8, 8),
        max_value=16,
        pixels="discrete",
        reader=_read_digits,
        classes=tuple(str(d) for d in range(10)),
    )
)

register(
    DatasetSpec(
        name="cifar10",
        description="Krizhevsky's 32x32 color images, 50k train / 10k test, 10 classes "
        "(binary or python batches)",
        shape=(3, 32, 32),
        max_value=255,
        reader=read_cifar,
        find=find_cifar,
        manual="download cifar-10-binary.tar.gz (or cifar-10-python.tar.gz) from "
        "https://www.cs.toronto.edu/~kriz/cifar.html and unpack it",
        layout="data_batch_1..5 [+ test_batch], .bin or python batches, or their "
        "cifar-10-batches-bin/-py folder",
        classes=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
    )
)

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
register(
    DatasetSpec(
        name="svhn",
        description="Street View House Numbers, cropped 32x32 color digits, 73k train / 26k "
        "test (+531k extra when extra_32x32.mat is present)",
        shape=(3, 32, 32),
        max_value=255,
        reader=read_svhn,
        files=(
            FileSpec(
                "train",
                "train_32x32.mat",
                None,
                f"{SVHN_URL}train_32x32.mat",
                md5="e26dedcc434d2e4c54c9b2d4a06d8373",
            ),
            FileSpec(
                "test",
                "test_32x32.mat",
                None,
                f"{SVHN_URL}test_32x32.mat",
                md5="eb5a983be6a315427106f1b164d9cef3",
            ),
            FileSpec(
                "extra",
                "extra_32x32.mat",
                None,
                f"{SVHN_URL}extra_32x32.mat",
                md5="a93ce644f1a588dc4d68dda5feec44a7",
                optional=True,
            ),
        ),
        classes=tuple(str(d) for d in range(10)),
    )
)

register(
    DatasetSpec(
        name="olivetti",
        description="AT&T's Olivetti faces, 400 gray 64x64 images of 40 people",
        shape=(1, 64, 64),
        max_value=255,
        reader=read_olivetti,
        files=(
            FileSpec(
                "faces",
                "olivettifaces.mat",
                "b1988d02c72fe5b8ee82b5ef3bb7982eafc74f1e1ff0ae0ade35061ad0af534d",
                "https://ndownloader.figshare.com/files/5976027",
            ),
        ),
    )
)


def _find_celeba(folder: Path) -> dict[str, Path] | None:
    faces, partition = folder / "img_align_celeba", folder / "list_eval_partition.txt"
    if faces.is_dir() and partition.is_file():
        return {"faces": faces, "partition": partition}
    return None


def _celeba_images(paths: dict[str, Path], size: int | None) -> ImageList:
    """The aligned faces with the official partition (0 train, 1 val, 2 test), the central
    148x148 square of each 178x218 image resized to `size` (64 by default)."""
    folder, partition = paths["faces"], paths["partition"]
    files, split = [], []
    try:
        text = partition.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise VaekitError(f"{partition}: cannot read ({err})") from None
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise VaekitError(f"{partition}:{number}: expected 'FILE 0|1|2', got {line[:80]!r}")
        if Path(parts[0]).name != parts[0] or parts[0] in (".", ".."):
            raise VaekitError(f"{partition}:{number}: {parts[0][:80]!r} is not a file name")
        files.append(folder / parts[0])
        split.append(int(parts[1]))
    missing = [p for p in files if not p.is_file()]
    if not files or missing:
        raise VaekitError(f"{partition}: lists {missing[0] if missing else 'no'} image(s) missing")
    decode = Decode(size or 64, "rgb", crop=148)
    return ImageList(folder, files, None, np.array(split, dtype=np.uint8), decode)


register(
    DatasetSpec(
        name="celeba",
        description="CelebA aligned and cropped faces (img_align_celeba/ and "
        "list_eval_partition.txt), official train/val/test split, resized to --image-size "
        "(64 by default)",
        shape=(3, 64, 64),
        max_value=255,
        find=_find_celeba,
        images=_celeba_images,
        layout="img_align_celeba/ and list_eval_partition.txt",
        manual="download img_align_celeba.zip and list_eval_partition.txt from "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and unpack them side by side",
    )
)
