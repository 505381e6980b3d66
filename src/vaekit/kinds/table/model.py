"""The table kind's model part: see vaekit.kinds.protocol."""
