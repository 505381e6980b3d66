"""The local web page of a run: a latent explorer, an upload box and fresh samples."""
