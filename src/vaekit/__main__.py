"""`python -m vaekit` is the `vaekit` command (and what `torchrun -m vaekit` runs)."""

from vaekit.cli.main import main

if __name__ == "__main__":
    main()
