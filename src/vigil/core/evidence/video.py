"""Reading a stored MPEG-TS segment's real timing from its PTS (PyAV), for HLS playlists."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
from av.error import FFmpegError


@dataclass(frozen=True)
class SegmentTiming:
    start_ms: int
    duration_ms: int


def probe_segment(data: bytes) -> SegmentTiming | None:
    """First PTS and duration of the video in a segment; None if it holds no timed video."""
    try:
        with av.open(io.BytesIO(data), mode="r", format="mpegts") as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            first: float | None = None
            last_end = 0.0
            for packet in container.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue
                start = float(packet.pts * packet.time_base)
                length = float((packet.duration or 0) * packet.time_base)
                first = start if first is None else min(first, start)
                last_end = max(last_end, start + length)
    except (FFmpegError, ValueError):
        return None
    if first is None:
        return None
    return SegmentTiming(start_ms=round(first * 1000), duration_ms=round((last_end - first) * 1000))
