"""The pure side of vision: per-frame verdicts and spans over time (no models needed)."""

from __future__ import annotations

import pytest

from vigil.analysis.vision import (
    FrameObservation,
    LookingAwayThresholds,
    Span,
    VisionEvent,
    find_spans,
    frame_events,
)
from vigil.settings import Settings

T = LookingAwayThresholds(
    yaw_degrees=30, pitch_degrees=25, min_frames=3, min_seconds=2.0, max_gap_seconds=30
)


def frontal(t: float) -> FrameObservation:
    return FrameObservation(t, 1, 0.9, yaw=2.0, pitch=5.0, roll=0.0)


def away(t: float, yaw: float = 45.0, pitch: float = 0.0) -> FrameObservation:
    return FrameObservation(t, 1, 0.8, yaw=yaw, pitch=pitch, roll=0.0)


def nobody(t: float) -> FrameObservation:
    return FrameObservation(t, 0, 1.0)


def crowd(t: float) -> FrameObservation:
    return FrameObservation(t, 2, 0.7)


def test_frame_events_name_what_one_frame_shows() -> None:
    assert frame_events(frontal(0), T) == []
    assert frame_events(nobody(0), T) == [VisionEvent.NO_FACE]
    assert frame_events(crowd(0), T) == [VisionEvent.MULTIPLE_FACES]
    assert frame_events(away(0, yaw=-31), T) == [VisionEvent.LOOKING_AWAY]
    assert frame_events(away(0, yaw=0, pitch=26), T) == [VisionEvent.LOOKING_AWAY]
    assert frame_events(away(0, yaw=29.9, pitch=-24.9), T) == []
    # One face but no pose measured: nothing to say about where it looks.
    assert frame_events(FrameObservation(0, 1, 0.9), T) == []


def test_looking_away_needs_min_frames_and_min_seconds() -> None:
    # Two frames away, 3 s apart: too few frames.
    assert find_spans([frontal(0), away(1), away(4), frontal(5)], T) == []
    # Three frames away within 1 s: too short.
    assert find_spans([away(0), away(0.5), away(1.0), frontal(2)], T) == []
    spans = find_spans([frontal(0), away(1), away(2), away(3.5), frontal(4)], T)
    assert spans == [Span(VisionEvent.LOOKING_AWAY, 1, 3.5, pytest.approx(0.8), 3, False)]


def test_a_frontal_frame_breaks_a_looking_away_run() -> None:
    frames = [away(0), away(1), frontal(1.5), away(2), away(3)]
    assert find_spans(frames, T) == []


def test_no_face_and_multiple_faces_count_from_one_frame() -> None:
    spans = find_spans([frontal(0), nobody(1), nobody(2), frontal(3), crowd(4), frontal(5)], T)
    assert [(s.event, s.start, s.end, s.frames) for s in spans] == [
        (VisionEvent.NO_FACE, 1, 2, 2),
        (VisionEvent.MULTIPLE_FACES, 4, 4, 1),
    ]
    assert all(not s.ongoing for s in spans)


def test_a_span_reaching_the_last_frame_is_ongoing() -> None:
    spans = find_spans([frontal(0), away(1), away(2), away(3.5)], T)
    assert [(s.event, s.ongoing) for s in spans] == [(VisionEvent.LOOKING_AWAY, True)]


def test_a_long_gap_splits_a_span() -> None:
    spans = find_spans([nobody(0), nobody(10), nobody(100)], T)
    assert [(s.start, s.end) for s in spans] == [(0, 10), (100, 100)]


def test_observations_must_be_in_time_order() -> None:
    with pytest.raises(ValueError, match="time order"):
        find_spans([frontal(2), frontal(1)], T)


def test_confidence_is_the_mean_of_the_frames() -> None:
    frames = [FrameObservation(t, 0, c) for t, c in ((0, 0.5), (1, 1.0))]
    assert find_spans(frames, T)[0].confidence == pytest.approx(0.75)


def test_thresholds_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LookingAwayThresholds.from_settings(Settings()) == LookingAwayThresholds()
    monkeypatch.setenv("VIGIL_LOOKING_AWAY_YAW_DEGREES", "40")
    monkeypatch.setenv("VIGIL_LOOKING_AWAY_PITCH_DEGREES", "35")
    monkeypatch.setenv("VIGIL_LOOKING_AWAY_MIN_FRAMES", "5")
    monkeypatch.setenv("VIGIL_LOOKING_AWAY_MIN_SECONDS", "4.5")
    monkeypatch.setenv("VIGIL_LOOKING_AWAY_MAX_GAP_SECONDS", "60")
    assert LookingAwayThresholds.from_settings(Settings()) == LookingAwayThresholds(
        40, 35, 5, 4.5, 60
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"yaw_degrees": 0}, {"pitch_degrees": -1}, {"min_frames": 0}, {"max_gap_seconds": 0}],
)
def test_thresholds_refuse_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be|>="):
        LookingAwayThresholds(**kwargs)  # type: ignore[arg-type]
