"""Command line: ``moorage serve | migrate``."""
