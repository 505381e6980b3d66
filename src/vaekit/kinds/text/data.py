"""The text kind's data part: see vaekit.kinds.protocol."""
