"""Real pictures and sound for the analysis tests, made by the project from what it ships or
installs: scikit-image's sample photos (bundled in the wheel, no download), espeak-ng speech,
PyAV encoders. Every function is deterministic and cached.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from fractions import Fraction
from functools import lru_cache

import av
import cv2
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from numpy.typing import NDArray

from vigil.simulate.media import webm_opus_audio

Image = NDArray[np.uint8]

#: Where the spoken sentence starts inside the 15 s speech chunk.
SPEECH_OFFSET_SECONDS = 4.0
CHUNK_SECONDS = 15.0
SENTENCE = (
    "Please read the second question aloud. The answer is forty two, "
    "and the capital of France is Paris."
)


def _readonly(image: Image) -> Image:
    image.setflags(write=False)
    return image


@lru_cache(maxsize=1)
def astronaut() -> Image:
    """Eileen Collins facing the camera (512 x 512): one frontal face."""
    from skimage import data

    return _readonly(np.ascontiguousarray(data.astronaut()))


@lru_cache(maxsize=1)
def two_astronauts() -> Image:
    """The astronaut twice, side by side (512 x 1024): two faces."""
    return _readonly(np.concatenate([astronaut(), astronaut()], axis=1))


@lru_cache(maxsize=1)
def coffee() -> Image:
    """A cup of coffee on a table: no face."""
    from skimage import data

    return _readonly(np.ascontiguousarray(data.coffee()))


@lru_cache(maxsize=1)
def rocket() -> Image:
    """A rocket on its launch pad: no face."""
    from skimage import data

    return _readonly(np.ascontiguousarray(data.rocket()))


@lru_cache(maxsize=4)
def rolled_astronaut(degrees: float) -> Image:
    """The astronaut photo rotated in its plane (a head leaning sideways: roll, not yaw)."""
    image = astronaut()
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    rotated = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return _readonly(np.asarray(rotated, dtype=np.uint8))


@lru_cache(maxsize=4)
def turned_astronaut(degrees: float, depth_gain: float = 1.5) -> Image:
    """The astronaut's face turned about the vertical axis by a 3D-aware warp.

    One photo has no back of the head, so a true head turn cannot be rendered. This is the
    nearest honest stand-in: MediaPipe's face mesh gives each of 468 landmarks a depth; the
    mesh is rotated ``degrees`` about a vertical axis through the face (depths scaled by
    ``depth_gain``, because the mesh's depths are flatter than a real face's), and the picture
    is warped piecewise-affinely so each landmark lands where the rotation projects it. The
    frame around the face stays still. Positive degrees move the nose toward the picture's
    left, as when the person turns to their right. Up to about 25 degrees the measured yaw
    follows the turn (10 -> ~10, 20 -> ~18); further, the warp tears the face and the measure
    saturates near 20.
    """
    import mediapipe as mp
    from skimage.transform import PiecewiseAffineTransform, warp

    image = astronaut()
    height, width = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        found = mesh.process(image).multi_face_landmarks
    if not found:
        raise RuntimeError("the face mesh found no face on the astronaut")
    points = np.array([(p.x * width, p.y * height, p.z * width) for p in found[0].landmark])
    centre = points.mean(axis=0)
    angle = np.radians(degrees)
    x = points[:, 0] - centre[0]
    z = (points[:, 2] - centre[2]) * depth_gain
    # The nose (nearest, z < 0) moves left for a positive angle.
    turned_x = centre[0] + x * np.cos(angle) + z * np.sin(angle)
    target = np.stack([turned_x, points[:, 1]], axis=1)
    frame = np.array(
        [
            (0, 0), (width - 1, 0), (width - 1, height - 1), (0, height - 1),
            (width / 2, 0), (width / 2, height - 1), (0, height / 2), (width - 1, height / 2),
        ],
        dtype=np.float64,
    )  # fmt: skip
    # warp() maps output coordinates back to input ones: estimate target -> source.
    transform = PiecewiseAffineTransform.from_estimate(
        np.vstack([target, frame]), np.vstack([points[:, :2], frame])
    )
    turned = warp(image, transform, output_shape=(height, width), preserve_range=True)
    return _readonly(np.asarray(np.round(turned), dtype=np.uint8))


def on_canvas(image: Image, width: int = 640, height: int = 480) -> Image:
    """``image`` centred on a grey ``width`` x ``height`` canvas (cropped if larger)."""
    canvas = np.full((height, width, 3), 128, dtype=np.uint8)
    h = min(height, image.shape[0])
    w = min(width, image.shape[1])
    top, left = (height - h) // 2, (width - w) // 2
    src_top, src_left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    canvas[top : top + h, left : left + w] = image[src_top : src_top + h, src_left : src_left + w]
    return canvas


def jpeg(image: Image, quality: int = 90) -> bytes:
    """An RGB picture as JPEG bytes."""
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()


# --------------------------------------------------------------------------- sound


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@lru_cache(maxsize=2)
def spoken_wav(text: str = SENTENCE) -> bytes:
    """espeak-ng reading ``text`` (a WAV file, 22.05 kHz mono)."""
    result = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", text],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout


@lru_cache(maxsize=2)
def speech_chunk(text: str = SENTENCE) -> bytes:
    """A 15 s WebM/Opus chunk (48 kHz mono, 32 kb/s): silence, then ``text`` spoken by
    espeak-ng from SPEECH_OFFSET_SECONDS on, then silence to the end."""
    rate = 48_000
    voice = _decode_mono(spoken_wav(text), rate)
    samples = np.zeros(int(CHUNK_SECONDS * rate), dtype=np.float32)
    start = int(SPEECH_OFFSET_SECONDS * rate)
    voice = voice[: samples.size - start]
    samples[start : start + voice.size] = voice
    return _webm_opus(samples, rate)


def speech_seconds(text: str = SENTENCE) -> float:
    """How long espeak-ng speaks ``text``."""
    return _decode_mono(spoken_wav(text), 16_000).size / 16_000


def silent_chunk() -> bytes:
    """15 s of digital silence as WebM/Opus."""
    return webm_opus_audio(CHUNK_SECONDS, tone_hz=None)


def tone_chunk(hz: float = 440.0) -> bytes:
    """15 s of a steady sine tone as WebM/Opus."""
    return webm_opus_audio(CHUNK_SECONDS, tone_hz=hz)


def _decode_mono(data: bytes, rate: int) -> NDArray[np.float32]:
    resampler = AudioResampler(format="flt", layout="mono", rate=rate)
    parts = []
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(container.streams.audio[0]):
            parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
    parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(parts).astype(np.float32)


def _webm_opus(samples: NDArray[np.float32], rate: int) -> bytes:
    buffer = io.BytesIO()
    frame_samples = rate // 50  # 20 ms Opus frames
    with av.open(buffer, "w", format="webm", container_options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libopus", rate=rate, layout="mono")
        stream.codec_context.bit_rate = 32_000
        stream.codec_context.format = "flt"
        pcm = np.clip(samples, -1.0, 1.0)
        for index, first in enumerate(range(0, pcm.size, frame_samples)):
            piece = np.zeros((1, frame_samples), dtype=np.float32)
            chunk = pcm[first : first + frame_samples]
            piece[0, : chunk.size] = chunk
            frame = AudioFrame.from_ndarray(piece, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = index * frame_samples
            frame.time_base = Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


# --------------------------------------------------------------------------- video


def webcam_segment(
    image: Image, container_format: str, seconds: float = 2.0, fps: int = 5
) -> bytes:
    """A short webcam-like video segment showing ``image`` still: ``mpegts`` (H.264, or
    MPEG-2 where this FFmpeg lacks libx264) or ``webm`` (VP8)."""
    if container_format == "webm":
        codec = "libvpx"
    elif container_format == "mpegts":
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg2video"
    else:
        raise ValueError("container_format must be mpegts or webm")
    height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    picture = np.ascontiguousarray(image[:height, :width])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(max(1, round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()
