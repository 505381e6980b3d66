"""The table kind's evaluate part: see vaekit.kinds.protocol."""
