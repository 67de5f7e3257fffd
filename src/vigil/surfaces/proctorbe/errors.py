"""ProctorBE is a FastAPI app: errors are `{"detail": ...}`, validation failures 422."""

from __future__ import annotations

from vigil.web.errors import SurfaceRoute


class ProctorBERoute(SurfaceRoute):
    """FastAPI's own error shape is ProctorBE's, so the defaults stand."""
