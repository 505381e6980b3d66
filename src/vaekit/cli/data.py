"""`vaekit data`: list the known datasets, fetch one, describe one."""

from __future__ import annotations

import argparse


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
    a = actions.add_parser("list", help="every registered dataset and where it was found")
    a.set_defaults(run=run_list)
    a = actions.add_parser("fetch", help="find a dataset or download it into the cache")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(run=run_fetch)
    a = actions.add_parser("info", help="shapes, splits, value range and checksums")
    a.add_argument("source", metavar="NAME|PATH")
    a.set_defaults(run=run_info)


def run_list(args: argparse.Namespace) -> int:
    from vaekit.api.data import list_datasets

    rows = list_datasets()
    width = max(len(r["name"]) for r in rows) + 2
    for r in rows:
        where = r["where"] or f"missing (vaekit data fetch {r['name']})"
        print(f"{r['name']:<{width}}{where}")
        print(f"{'':<{width}}{r['description']}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from vaekit.api.data import fetch_dataset

    with _DownloadBar() as bar:
        paths = fetch_dataset(args.name, bar.update)
    for path in paths.values():
        print(path)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from vaekit.api.data import dataset_info

    with _DownloadBar() as bar:
        info = dataset_info(args.source, bar.update)
    print(f"{info['name']}")
    if info.get("description"):
        print(f"  {info['description']}")
    for f in info.get("files", []):
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
        print(f"  missing: `vaekit data fetch {args.source}` downloads it")
        return 1
    print(f"  image shape {tuple(info['shape'])}, {info['dtype']}, max value {info['max_value']}")
    for name, s in info["splits"].items():
        labels = "labelled" if s["labels"] else "no labels"
        print(
            f"  {name:<5} {s['images'][0]:>7} images, {labels}, values {s['min']:g}..{s['max']:g}"
            f" (mean {s['mean']:.2f})"
        )
    if info.get("num_classes"):
        print(f"  classes {info['num_classes']}")
    if info.get("test_carved"):
        print(f"  test split carved: {info['test_carved']}")
    print(f"  content sha256 {info['sha256']}")
    return 0


class _DownloadBar:
    """A tqdm bar per downloaded file, created only when a download happens."""

    def __init__(self) -> None:
        self.bar = None
        self.name = None

    def __enter__(self) -> _DownloadBar:
        return self

    def update(self, name: str, done: int, total: int | None) -> None:
        if name != self.name:
            from tqdm.auto import tqdm

            self.close()
            self.name = name
            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __exit__(self, *exc: object) -> None:
        self.close()
