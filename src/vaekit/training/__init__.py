"""One explicit training loop, extended by callbacks."""
