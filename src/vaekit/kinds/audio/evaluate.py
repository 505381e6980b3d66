"""The audio kind's evaluate part: see vaekit.kinds.protocol."""
