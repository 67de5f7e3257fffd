"""Decoding evidence for analysis: images to RGB arrays, a frame from a video segment, audio
to 16 kHz mono float32. Pure functions over bytes; safe to call from any thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import cv2
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.error import FFmpegError
from numpy.typing import NDArray

__all__ = [
    "AUDIO_RATE",
    "SampledFrame",
    "UndecodableMedia",
    "MAX_IMAGE_PIXELS",
    "decode_audio",
    "declared_image_size",
    "decode_image",
    "sample_video_frame",
]

#: Silero VAD (and Whisper) take 16 kHz mono.
AUDIO_RATE = 16_000

RgbImage = NDArray[np.uint8]


class UndecodableMedia(ValueError):
    """The bytes are not a picture, video or audio stream that this build can decode."""


#: Larger pictures are refused before decoding: a small file can declare a huge picture.
MAX_IMAGE_PIXELS = 40_000_000


def decode_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> RgbImage:
    """A JPEG/PNG (anything OpenCV reads) as an H x W x 3 RGB array."""
    if not data:
        raise UndecodableMedia("no image bytes")
    size = declared_image_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise UndecodableMedia(
            f"the picture is {size[0]}x{size[1]}, over the {max_pixels} pixel limit"
        )
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UndecodableMedia("not an image OpenCV can decode")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})


def declared_image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header or a PNG's IHDR, without decoding; None for
    other or truncated data."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not data.startswith(b"\xff\xd8"):
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _JPEG_SOF:
            header = data[position + 5 : position + 9]
            if len(header) < 4:
                return None
            return int.from_bytes(header[2:4], "big"), int.from_bytes(header[0:2], "big")
        if marker == 0xDA or length < 2:  # image data before any frame header
            return None
        position += 2 + length
    return None


@dataclass(frozen=True)
class SampledFrame:
    image: RgbImage
    #: Offset of the frame from the segment's first video timestamp, in seconds.
    offset: float


def sample_video_frame(data: bytes, *, at: float = 0.5) -> SampledFrame:
    """One decoded frame of a WebM or MPEG-TS segment, ``at`` of the way through it.

    The segment's length is read from its packets (no full decode); then frames are decoded
    until the first one at or past the target time. ``at=0`` gives the first frame. A segment
    with a single decodable frame gives that frame.
    """
    if not 0.0 <= at <= 1.0:
        raise ValueError("at must be between 0 and 1")
    if not data:
        raise UndecodableMedia("no video bytes")
    try:
        return _sample_video_frame(data, at)
    except (FFmpegError, ValueError, IndexError) as exc:
        if isinstance(exc, UndecodableMedia):
            raise
        raise UndecodableMedia(f"not a video segment this build can decode: {exc}") from exc


def _sample_video_frame(data: bytes, at: float) -> SampledFrame:
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            raise UndecodableMedia("the segment holds no video stream")
        stream = container.streams.video[0]
        times = [
            float(packet.pts * packet.time_base)
            for packet in container.demux(stream)
            if packet.pts is not None and packet.time_base is not None
        ]
        if not times:
            raise UndecodableMedia("the segment holds no timed video packets")
        first, last = min(times), max(times)
        target = first + at * (last - first)
        container.seek(0)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time >= target - 1e-6:
                break
        if chosen is None:
            raise UndecodableMedia("no frame of the segment decodes")
        offset = 0.0 if chosen.time is None else max(0.0, chosen.time - first)
        image = np.asarray(chosen.to_ndarray(format="rgb24"), dtype=np.uint8)
        return SampledFrame(image=image, offset=offset)


def decode_audio(data: bytes, *, rate: int = AUDIO_RATE) -> NDArray[np.float32]:
    """The first audio stream of a file (WebM/Opus, Ogg, WAV...) as mono float32 at ``rate``.

    Channels are mixed down by FFmpeg's resampler; samples are in [-1, 1].
    """
    if not data:
        raise UndecodableMedia("no audio bytes")
    try:
        return _decode_audio(data, rate)
    except (FFmpegError, ValueError) as exc:
        if isinstance(exc, UndecodableMedia):
            raise
        raise UndecodableMedia(f"not an audio stream this build can decode: {exc}") from exc


def _decode_audio(data: bytes, rate: int) -> NDArray[np.float32]:
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise UndecodableMedia("the file holds no audio stream")
        stream = container.streams.audio[0]
        resampler = AudioResampler(format="flt", layout="mono", rate=rate)
        parts: list[NDArray[np.float32]] = []
        for frame in container.decode(stream):
            parts.extend(_samples(out) for out in resampler.resample(frame))
        parts.extend(_samples(out) for out in resampler.resample(None))
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts)


def _samples(frame: AudioFrame) -> NDArray[np.float32]:
    # Packed mono float: one plane, shape (1, samples).
    return frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
