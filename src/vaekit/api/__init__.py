"""The user's facade: train() writes a run directory, load() returns a Model."""
