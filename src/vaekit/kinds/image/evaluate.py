"""The image kind's evaluate part: see vaekit.kinds.protocol."""
