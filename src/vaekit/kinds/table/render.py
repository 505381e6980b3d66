"""The table kind's render part: see vaekit.kinds.protocol."""
