"""Vigil: a self-hosted proctoring backend serving five client contracts over one core."""

__version__ = "0.1.0"
