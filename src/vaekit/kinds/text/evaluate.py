"""The text kind's evaluate part: see vaekit.kinds.protocol."""
