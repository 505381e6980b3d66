"""The text kind's model part: see vaekit.kinds.protocol."""
