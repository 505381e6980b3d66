"""The image kind's model part: see vaekit.kinds.protocol."""
