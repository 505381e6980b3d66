"""The image kind's data part: see vaekit.kinds.protocol."""
