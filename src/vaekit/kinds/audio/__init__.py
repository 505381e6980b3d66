"""Audio: folders of .wav clips, modelled as standardized log-mel spectrograms. Each file
here is in its layer (DESIGN.md): data, model, evaluate, render."""
