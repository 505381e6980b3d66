"""Honest numbers: ELBO, importance-weighted log-likelihood, bits/dim, latent health, probes.

Functions here take a model and tensors, return numbers, and report progress through a
callback; they print nothing and touch no files.
"""
