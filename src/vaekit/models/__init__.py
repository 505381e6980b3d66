"""Pure nn.Modules and distributions: encode, decode, score. No file I/O except models.io."""
