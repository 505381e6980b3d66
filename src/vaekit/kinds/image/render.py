"""The image kind's render part: see vaekit.kinds.protocol."""
