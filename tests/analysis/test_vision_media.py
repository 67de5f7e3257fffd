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


def test_declared_size_is_read_without_decoding() -> None:
    from vigil.analysis.media import declared_image_size
    from vigil.simulate.media import jpeg_snapshot, png_image

    assert declared_image_size(assets.jpeg(assets.on_canvas(assets.astronaut()))) == (640, 480)
    assert declared_image_size(jpeg_snapshot(320, 240)) == (320, 240)
    assert declared_image_size(png_image(8, 6)) == (8, 6)
    assert declared_image_size(b"\xff\xd8\xff") is None
    assert declared_image_size(b"GIF89a") is None


def test_a_picture_over_the_pixel_limit_is_refused_before_decoding() -> None:
    snapshot = assets.jpeg(assets.on_canvas(assets.astronaut()))
    with pytest.raises(UndecodableMedia, match="640x480, over the 100000 pixel limit"):
        decode_image(snapshot, max_pixels=100_000)
    # A PNG header that claims 100000 x 100000 pixels is refused without being decoded.
    huge = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + (100_000).to_bytes(4, "big") * 2 + b"\x08\x02"
    with pytest.raises(UndecodableMedia, match="pixel limit"):
        decode_image(huge)
