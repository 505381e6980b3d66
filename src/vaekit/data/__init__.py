"""Where bytes become tensors: the dataset registry, file lookup, readers and the batch store."""
