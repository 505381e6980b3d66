"""`python -m vaekit` is the `vaekit` command (and what `torchrun -m vaekit` runs)."""

from vaekit.cli.entry import command

if __name__ == "__main__":
    command()
