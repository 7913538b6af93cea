"""Moorage: a trusted container registry."""

__version__ = "0.1.0"
