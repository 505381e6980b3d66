"""Text: .txt files of sentences, one per line, modelled as token sequences. Each file here is
in its layer (DESIGN.md): data, model, evaluate, render."""
