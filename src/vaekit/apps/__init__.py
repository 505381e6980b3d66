"""What a trained VAE is used for: thin, pure functions over the model; no file I/O."""
