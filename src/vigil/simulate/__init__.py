"""Simulation helpers: synthetic clients and the real media files they upload."""
