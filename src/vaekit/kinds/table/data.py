"""The table kind's data part: see vaekit.kinds.protocol."""
