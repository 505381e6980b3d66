"""Images: PNG/JPEG folders, .npy/.npz arrays and registered datasets (MNIST, CIFAR-10, ...).
Each file here is in its layer (DESIGN.md): data, model, evaluate, render."""
