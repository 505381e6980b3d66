"""The audio kind's model part: see vaekit.kinds.protocol."""
