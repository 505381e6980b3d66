"""`vaekit <command>`: parse, build a config, call the library, render. Nothing else."""
