"""The audio kind's render part: see vaekit.kinds.protocol."""
