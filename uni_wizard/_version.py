"""The package's version: a module that imports nothing, so any floor may read it."""

__version__ = "0.1.0"
