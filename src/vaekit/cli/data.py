"""`vaekit data`: list the known datasets, fetch one, describe one."""

from __future__ import annotations

import argparse

from vaekit.cli.options import argparse_spec, count
from vaekit.kinds.image.options import MAX_IMAGE_SIZE
from vaekit.train_options import KIND_OPTIONS, TRAIN_OPTIONS

# `data info`'s options: --kind and each kind's data options, as `vaekit train` declares them.
INFO_OPTIONS = [TRAIN_OPTIONS["kind"], *(o for o in KIND_OPTIONS if o.group == "data")]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="list, fetch and inspect datasets",
        description="Datasets are looked up in $VAEKIT_DATA/<name>/, then the cache "
        "(~/.cache/vaekit/<name>/, or $VAEKIT_CACHE), then known system folders, and "
        "downloaded into the cache from their canonical URL when missing (unless "
        "VAEKIT_OFFLINE=1). Downloads are checksummed before they are kept.",
        epilog="examples:\n  vaekit data list\n  vaekit data fetch mnist\n"
        "  vaekit data info fashion-mnist\n  vaekit data info my_images.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser(
        "list",
        help="every registered dataset, present or missing",
        description="Every registered dataset with where it was found (its folder, or built "
        "in: shipped with a Python package), or missing: then whether `vaekit data fetch` "
        "downloads it (not for datasets that come only by hand, nor with VAEKIT_OFFLINE set).",
    )
    a.set_defaults(run=run_list)
    a = actions.add_parser(
        "fetch",
        help="find a dataset or download it into the cache",
        description="Print where a registered dataset's files are; when missing, download "
        "them into the cache (checksummed, kept only when complete), with a progress bar. "
        "Datasets that come only by hand (CIFAR-10, CelebA) and VAEKIT_OFFLINE=1 end in a "
        "message saying where to put the files.",
    )
    a.add_argument("name", metavar="NAME", help="a registered dataset (see `vaekit data list`)")
    a.set_defaults(run=run_fetch)
    a = actions.add_parser(
        "info",
        help="shapes, splits, value range and checksums",
        description="Describe a registered dataset or a dataset path (a folder, a .npy/.npz "
        "file): its files and their sha256 against the published ones, the image shape and "
        "type, the pixel kind, each split's size, labels and value range, and the content "
        "sha256 a run records. A registered dataset that is missing exits 1. Read as `vaekit "
        "train` reads it, with the same options: for a table (.csv, .parquet) each column's "
        "kind and statistics; for audio its recordings; for text its lines and vocabulary; for "
        "a time series its channels, steps and windows.",
    )
    a.add_argument("source", metavar="NAME|PATH", help="a registered dataset name or a path")
    # The options that say how a source is read, declared once for `vaekit train`: --kind,
    # then each kind's own (a table's --target, a series' --window, ...).
    for option in INFO_OPTIONS:
        a.add_argument(option.flag, **argparse_spec(option))
    a.set_defaults(run=run_info)
    a = actions.add_parser(
        "prepare",
        help="convert a dataset once into a memory-mapped array (for data larger than memory)",
        description="Decode a dataset once into a uint8 array in the cache, memory-mapped when "
        "used, so training reads batches without loading it whole. Image folders are decoded "
        "on all cores (subfolder names become labels; unreadable images are skipped with a "
        "warning naming them). Pass the printed folder as --data, or train on the original "
        "name or folder with the same --image-size: the prepared array is found again.",
    )
    a.add_argument("source", metavar="NAME|FOLDER", help="a registered dataset or a folder")
    a.add_argument(
        "--image-size", type=count(1, MAX_IMAGE_SIZE), metavar="S",
        help="crop images to their centre square and resize them to S x S (needed for images "
        f"of several sizes; CelebA: 64 by default; at most {MAX_IMAGE_SIZE})",
    )  # fmt: skip
    a.add_argument("--color", choices=("auto", "gray", "rgb"), default="auto",
                   help="decode images as grayscale or RGB (default: auto)")  # fmt: skip
    a.add_argument("--crop", choices=("center", "none"), default="center",
                   help="with --image-size: crop the centre square first, or squeeze the "
                   "whole image (default: center)")  # fmt: skip
    a.set_defaults(run=run_prepare)


def run_list(args: argparse.Namespace) -> int:
    from vaekit.api.data import list_datasets

    rows = list_datasets()
    width = max(len(r["name"]) for r in rows) + 2
    for r in rows:
        if r["where"] is not None:
            where = f"present: {r['where']}"
        elif r["download"] is None:
            where = f"missing: `vaekit data fetch {r['name']}` downloads it"
        else:
            where = f"missing: {r['download']}"
        print(f"{r['name']:<{width}}{where}")
        print(f"{'':<{width}}{r['description']}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from vaekit.api.data import fetch_dataset
    from vaekit.progress import Bars

    with Bars() as bars:
        paths = fetch_dataset(args.name, bars.update)
    for path in paths.values():
        print(path)
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from vaekit.api.data import prepare_dataset
    from vaekit.progress import Bars

    with Bars() as bars:
        info = prepare_dataset(args.source, args.image_size, args.color, args.crop, bars.update)
    print(f"{info['name']}: {info['num_train']} train / {info.get('num_val', 0)} val / "
          f"{info['num_test']} test images of shape {tuple(info['shape'])}")  # fmt: skip
    if info.get("skipped"):
        print(f"  skipped {info['skipped']} unreadable images (named in the warnings above)")
    print(f"prepared: {info['prepared']}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from vaekit.api.data import dataset_info
    from vaekit.kinds.base import kind
    from vaekit.progress import Bars

    given = {o.name: getattr(args, o.name) for o in INFO_OPTIONS}
    with Bars() as bars:
        info = dataset_info(
            args.source, bars.update, **{k: v for k, v in given.items() if v is not None}
        )
    print(f"{info['name']}")
    if info.get("description"):
        print(f"  {info['description']}")
    for f in info.get("files", []):  # a registered dataset's
        print(f"  file {f['name']}: {f['path'] or 'missing, from ' + f['url']}")
        if f["sha256"]:
            verdict = (
                "no published checksum"
                if f["expected_sha256"] is None
                else "ok"
                if f["sha256"] == f["expected_sha256"]
                else "MISMATCH"
            )
            print(f"    sha256 {f['sha256']} ({verdict})")
    if info.get("missing"):
        if info["download"] is None:
            print(f"  missing: `vaekit data fetch {args.source}` downloads it")
        else:
            print(f"  missing: {info['download']}")
        return 1
    for line in kind(info["kind"]).part("render").info_lines(info):
        print(line)
    return 0
