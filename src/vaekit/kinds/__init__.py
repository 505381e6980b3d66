"""Kinds of data and model families, each declared in one place and found through a registry.

kinds/base is the bottom of the layer map: the model family registry (and, later, the `Kind`
protocol), which every other layer reads instead of keeping its own list of names. Third-party
packages add families through the `vaekit.families` entry point group.
"""
