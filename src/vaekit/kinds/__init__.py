"""Kinds of data and model families, each declared in one place and found through a registry.

kinds/base is the bottom of the layer map: the registries of model families and of kinds of
data (for now, how each kind's sources are recognized and opened), which every other layer
reads instead of keeping its own list of names. Third-party packages add families through the
`vaekit.families` entry point group and kinds through `vaekit.kinds`.
"""
