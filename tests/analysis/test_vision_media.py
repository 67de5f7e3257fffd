"""A frame sampled from webcam video segments, then analysed like a snapshot."""

from __future__ import annotations

import pytest

from tests.support import analysis_assets as assets
from vigil.analysis.media import UndecodableMedia, decode_image, sample_video_frame
from vigil.analysis.vision import FaceAnalyzer
from vigil.simulate.media import mpegts_segment, webm_opus_audio


@pytest.mark.parametrize("container_format", ["mpegts", "webm"])
def test_a_frame_sampled_from_a_segment_shows_the_face(container_format: str) -> None:
    segment = assets.webcam_segment(assets.on_canvas(assets.astronaut()), container_format)
    sampled = sample_video_frame(segment)
    assert sampled.image.shape == (480, 640, 3)
    assert 0.5 <= sampled.offset <= 1.2  # halfway through 2 s at 5 fps
    with FaceAnalyzer() as analyzer:
        seen = analyzer.observe(sampled.image)
    assert seen.face_count == 1


def test_at_chooses_where_in_the_segment() -> None:
    segment = mpegts_segment(4.0, fps=10, start_seconds=8.0)
    assert sample_video_frame(segment, at=0.0).offset == pytest.approx(0.0, abs=0.01)
    assert sample_video_frame(segment, at=1.0).offset == pytest.approx(3.9, abs=0.11)
    with pytest.raises(ValueError, match="between 0 and 1"):
        sample_video_frame(segment, at=1.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no video bytes"),
        (b"\x47" + b"\x00" * 500, "video"),
        (webm_opus_audio(1.0), "no video stream"),
    ],
)
def test_a_segment_without_video_is_undecodable(data: bytes, message: str) -> None:
    with pytest.raises(UndecodableMedia, match=message):
        sample_video_frame(data)


def test_decode_image_gives_rgb() -> None:
    image = decode_image(assets.jpeg(assets.astronaut(), quality=95))
    assert image.shape == (512, 512, 3)
    # Her suit is white and the background grey-pink: compare channel means, not pixels.
    assert abs(image.mean(axis=(0, 1)) - assets.astronaut().mean(axis=(0, 1))).max() < 3
