"""The audio kind's data part: see vaekit.kinds.protocol."""
