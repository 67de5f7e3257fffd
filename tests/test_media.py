"""The generated media are real files: decode them back with PyAV and check what a user sees."""

from __future__ import annotations

import io
from array import array
from fractions import Fraction

import av
import pytest
from av.audio.frame import AudioFrame
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame

from vigil.simulate import media
from vigil.simulate.media import jpeg_snapshot, mpegts_segment, png_image, webm_opus_audio

TS_PACKET = 188
TS_CODECS = [c for c in ("libx264", "mpeg2video") if c in av.codecs_available]
DECODED_NAME = {"libx264": "h264", "mpeg2video": "mpeg2video"}


def _open(data: bytes) -> av.container.InputContainer:
    return av.open(io.BytesIO(data), "r")


# --------------------------------------------------------------------------- WebM / Opus


def _decoded_s16(data: bytes) -> array[int]:
    """All decoded samples of the first audio stream, as 48 kHz mono s16."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    out: array[int] = array("h")
    with _open(data) as container:
        frames: list[AudioFrame | None] = [*container.decode(audio=0), None]
        for frame in frames:
            for resampled in resampler.resample(frame):
                out.frombytes(bytes(resampled.planes[0])[: 2 * resampled.samples])
    return out


@pytest.mark.parametrize("seconds", [15.0, 3.0, 0.5])
def test_webm_opus_is_a_mono_opus_webm_of_the_requested_length(seconds: float) -> None:
    data = webm_opus_audio(seconds)
    assert data[:4] == b"\x1a\x45\xdf\xa3"
    with _open(data) as container:
        assert "matroska" in container.format.name or "webm" in container.format.name
        assert len(container.streams) == 1
        (stream,) = container.streams.audio
        assert stream.codec_context.name == "opus"
        assert stream.codec_context.channels == 1
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(seconds, abs=0.5)


def test_webm_opus_tone_is_audible_at_the_requested_pitch() -> None:
    samples = _decoded_s16(webm_opus_audio(3.0, tone_hz=440.0))
    assert len(samples) / 48000 == pytest.approx(3.0, abs=0.1)
    middle = samples[4800:-4800]  # skip the encoder's ramp-in and the padded tail
    assert max(abs(s) for s in middle) > 5000  # generated at ~0.3 of full scale (9830)
    rising = sum(1 for a, b in zip(middle, middle[1:], strict=False) if a < 0 <= b)
    assert rising / (len(middle) / 48000) == pytest.approx(440, rel=0.02)


def test_webm_opus_silence_decodes_to_silence() -> None:
    samples = _decoded_s16(webm_opus_audio(3.0, tone_hz=None))
    assert len(samples) / 48000 == pytest.approx(3.0, abs=0.1)
    assert max(abs(s) for s in samples) <= 8


def test_webm_opus_other_sample_rate_and_fractional_tone() -> None:
    data = webm_opus_audio(2.0, tone_hz=1000.5, sample_rate=16000)
    with _open(data) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(2.0, abs=0.5)
    assert max(abs(s) for s in _decoded_s16(data)[4800:-4800]) > 5000


def test_webm_opus_is_deterministic_and_cached() -> None:
    assert webm_opus_audio(1.0) is webm_opus_audio(1.0)
    media._webm_opus_audio.cache_clear()
    first = webm_opus_audio(1.0)
    media._webm_opus_audio.cache_clear()
    assert webm_opus_audio(1.0) == first
    assert webm_opus_audio(1.0, tone_hz=None) != first


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seconds": 0},
        {"seconds": -1},
        {"seconds": 1e-7},
        {"seconds": float("nan")},
        {"sample_rate": 44100},
        {"tone_hz": 0},
        {"tone_hz": 30000},
    ],
)
def test_webm_opus_rejects_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"."):
        webm_opus_audio(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- JPEG


def _decode_picture(codec: str, data: bytes) -> VideoFrame:
    ctx = av.CodecContext.create(codec, "r")
    assert isinstance(ctx, VideoCodecContext)
    frames = [*ctx.decode(av.Packet(data)), *ctx.decode(None)]
    assert len(frames) == 1
    (frame,) = frames
    assert isinstance(frame, VideoFrame)
    return frame


@pytest.mark.parametrize(("width", "height"), [(320, 240), (640, 480), (64, 48), (33, 17)])
def test_jpeg_snapshot_is_a_baseline_jpeg_of_the_requested_size(width: int, height: int) -> None:
    data = jpeg_snapshot(width, height)
    assert data.startswith(b"\xff\xd8\xff")
    assert data.endswith(b"\xff\xd9")
    assert b"\xff\xc0" in data  # SOF0: baseline DCT
    assert b"\xff\xc2" not in data  # no progressive frame header
    frame = _decode_picture("mjpeg", data)
    assert (frame.width, frame.height) == (width, height)


def test_jpeg_snapshot_opens_as_an_image_file() -> None:
    with _open(jpeg_snapshot()) as container:
        (stream,) = container.streams.video
        assert stream.codec_context.name == "mjpeg"
        (frame,) = container.decode(video=0)
        assert (frame.width, frame.height) == (320, 240)


def test_jpeg_snapshot_seeds_give_different_pictures() -> None:
    shots = [jpeg_snapshot(seed=seed) for seed in range(6)]
    assert len(set(shots)) == len(shots)
    assert jpeg_snapshot(seed=3) == shots[3]
    # Different in what a viewer sees, not only in the bytes.
    luma = [bytes(_decode_picture("mjpeg", shot).planes[0]) for shot in shots[:2]]
    assert luma[0] != luma[1]


@pytest.mark.parametrize(("width", "height"), [(0, 240), (320, -1)])
def test_pictures_reject_bad_sizes(width: int, height: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        jpeg_snapshot(width, height)
    with pytest.raises(ValueError, match="positive"):
        png_image(width, height)


# --------------------------------------------------------------------------- MPEG-TS


def _ts(codec: str, seconds: float = 4.0, **kwargs: int | float) -> bytes:
    args: dict[str, int | float] = {
        "width": 320,
        "height": 240,
        "fps": 10,
        "start_seconds": 0.0,
        "seed": 0,
    }
    args.update(kwargs)
    return media._mpegts_segment(
        codec,
        seconds,
        int(args["width"]),
        int(args["height"]),
        int(args["fps"]),
        float(args["start_seconds"]),
        int(args["seed"]),
    )


def _packet_pts(data: bytes) -> list[Fraction]:
    """Presentation times (seconds) of the video packets, in stream order."""
    with _open(data) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        return [
            p.pts * stream.time_base
            for p in container.demux(stream)
            if p.pts is not None and p.size > 0
        ]


def test_mpegts_segment_uses_h264_when_libx264_is_available() -> None:
    with _open(mpegts_segment(1.0)) as container:
        name = container.streams.video[0].codec_context.name
    assert name == ("h264" if "libx264" in av.codecs_available else "mpeg2video")


@pytest.mark.parametrize("codec", TS_CODECS)
@pytest.mark.parametrize(
    ("seconds", "width", "height", "fps"), [(4.0, 320, 240, 10), (2.0, 176, 144, 25)]
)
def test_mpegts_segment_is_a_transport_stream_of_the_requested_video(
    codec: str, seconds: float, width: int, height: int, fps: int
) -> None:
    data = _ts(codec, seconds, width=width, height=height, fps=fps)
    assert len(data) % TS_PACKET == 0
    assert all(data[i] == 0x47 for i in range(0, len(data), TS_PACKET))
    with _open(data) as container:
        assert container.format.name == "mpegts"
        assert len(container.streams) == 1
        (stream,) = container.streams.video
        assert stream.codec_context.name == DECODED_NAME[codec]
        frames = list(container.decode(stream))
    assert len(frames) >= seconds * fps - 1
    assert {(f.width, f.height) for f in frames} == {(width, height)}
    assert frames[0].key_frame  # a segment can be played on its own
    times = [f.time for f in frames]
    assert all(t is not None for t in times)
    assert times == sorted(times)
    span = frames[-1].time - frames[0].time + 1 / fps
    assert span == pytest.approx(seconds, abs=0.2)


@pytest.mark.parametrize("codec", TS_CODECS)
def test_mpegts_consecutive_segments_have_continuous_timestamps(codec: str) -> None:
    first = _packet_pts(_ts(codec, start_seconds=0.0))
    second = _packet_pts(_ts(codec, start_seconds=4.0))
    third = _packet_pts(_ts(codec, start_seconds=8.0))
    # Relative to each other, whatever base offset the muxer might add: 4 s apart, no gap.
    assert second[0] - first[0] == pytest.approx(4.0, abs=0.2)
    assert third[0] - second[0] == pytest.approx(4.0, abs=0.2)
    assert second[0] == first[-1] + Fraction(1, 10)
    assert third[0] == second[-1] + Fraction(1, 10)
    # In absolute terms too: PyAV's MPEG-TS muxer adds no offset (its max_delay is unset, unlike
    # the ffmpeg CLI's 1.4 s), so a stream reports start_time == start_seconds.
    assert float(second[0]) == pytest.approx(4.0, abs=0.2)
    with _open(_ts(codec, start_seconds=4.0)) as container:
        stream = container.streams.video[0]
        assert stream.start_time is not None
        assert stream.time_base is not None
        assert float(stream.start_time * stream.time_base) == pytest.approx(4.0, abs=0.2)


def test_mpegts_start_seconds_off_the_frame_grid_is_exact_with_h264() -> None:
    if "libx264" not in av.codecs_available:
        pytest.skip("libx264 not in this FFmpeg build")
    pts = _packet_pts(mpegts_segment(1.0, start_seconds=2.55))
    assert pts[0] == Fraction(255, 100)


def test_mpegts_segment_seeds_and_caching() -> None:
    assert mpegts_segment(1.0, seed=1) is mpegts_segment(1.0, seed=1)
    assert mpegts_segment(1.0, seed=1) != mpegts_segment(1.0, seed=2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seconds": 0},
        {"fps": 0},
        {"start_seconds": -1.0},
        {"width": 321},
        {"height": 0},
    ],
)
def test_mpegts_segment_rejects_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"."):
        mpegts_segment(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- PNG


@pytest.mark.parametrize(("width", "height"), [(8, 8), (31, 7)])
def test_png_image_is_a_png_and_not_a_jpeg(width: int, height: int) -> None:
    data = png_image(width, height)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data.endswith(b"IEND\xaeB`\x82")
    assert not data.startswith(b"\xff\xd8")
    frame = _decode_picture("png", data)
    assert (frame.width, frame.height) == (width, height)
