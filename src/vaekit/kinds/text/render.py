"""The text kind's render part: see vaekit.kinds.protocol."""
