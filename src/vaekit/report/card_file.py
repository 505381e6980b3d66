"""Where a run's model card goes and how vaekit knows its own (vaekit.report.card writes
it): README.md, unless the run folder holds a README.md that vaekit did not write."""

from __future__ import annotations

from pathlib import Path

CARD_FILE = "README.md"
BESIDE_FILE = "MODEL_CARD.md"  # the card, where the run folder holds a user's README.md
MARKER = "vaekit_card"  # the front matter key that says vaekit wrote the file


def is_vaekit_card(path: Path) -> bool:
    """Whether the file at `path` is a card vaekit wrote: front matter holding MARKER."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(8192)
    except OSError:
        return False
    if not head.startswith("---\n"):
        return False
    block = head[4:].split("\n---", 1)[0]
    return any(line.startswith(f"{MARKER}:") for line in block.splitlines())


def card_path(rundir: Path) -> Path:
    """Where a run's card goes: README.md, unless the folder holds a README.md that vaekit
    did not write (the user's, kept): then MODEL_CARD.md beside it."""
    readme = rundir / CARD_FILE
    if readme.is_symlink() or (readme.exists() and not is_vaekit_card(readme)):
        return rundir / BESIDE_FILE
    return readme
