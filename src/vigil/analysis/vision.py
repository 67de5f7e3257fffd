"""Faces in snapshots and video frames: face count, confidence and head pose per frame, and the
events they add up to (NO_FACE, MULTIPLE_FACES, LOOKING_AWAY).

Two layers:
- ``FaceAnalyzer`` turns one picture into a ``FrameObservation`` with MediaPipe's face detector
  and face mesh (their models ship in the mediapipe wheel) and ``pose.estimate_head_pose``.
  It holds loaded graphs and is NOT thread-safe: keep one per worker thread.
- ``frame_events``, ``find_spans`` and ``analyze_frame`` are pure functions over observations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from vigil.analysis.media import RgbImage, UndecodableMedia, decode_image
from vigil.analysis.pose import HeadPose, estimate_head_pose, landmark_points

if TYPE_CHECKING:
    from vigil.settings import Settings

__all__ = [
    "FaceAnalyzer",
    "FrameObservation",
    "FrameVerdict",
    "LookingAwayThresholds",
    "Span",
    "VisionEvent",
    "analyze_frame",
    "find_spans",
    "frame_events",
    "is_looking_away",
]


class VisionEvent(StrEnum):
    NO_FACE = "NO_FACE"
    MULTIPLE_FACES = "MULTIPLE_FACES"
    LOOKING_AWAY = "LOOKING_AWAY"
    INVALID_IMAGE = "INVALID_IMAGE"
    NO_FRAME_RECEIVED = "NO_FRAME_RECEIVED"


@dataclass(frozen=True)
class FrameObservation:
    """What one frame shows. ``timestamp`` is in seconds on whatever clock the caller uses.

    ``confidence`` is how sure the detector is of ``face_count``: with faces, the lowest
    score among the faces counted; with none, 1 minus the best score of a candidate that fell
    short of the threshold (1.0 when there was no candidate at all). The pose is only measured
    when exactly one face is present.
    """

    timestamp: float
    face_count: int
    confidence: float
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None

    def at(self, timestamp: float) -> FrameObservation:
        """The same observation stamped with another time."""
        return FrameObservation(
            timestamp, self.face_count, self.confidence, self.yaw, self.pitch, self.roll
        )


@dataclass(frozen=True)
class LookingAwayThresholds:
    """When a pose counts as looking away, and for how long it must last to be an event."""

    yaw_degrees: float = 30.0
    pitch_degrees: float = 25.0
    min_frames: int = 3
    min_seconds: float = 2.0
    #: A longer silence between two observations ends a span: nothing is known in between.
    max_gap_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not (self.yaw_degrees > 0 and self.pitch_degrees > 0):
            raise ValueError("the yaw and pitch thresholds must be positive")
        if self.min_frames < 1 or self.min_seconds < 0 or self.max_gap_seconds <= 0:
            raise ValueError("min_frames >= 1, min_seconds >= 0 and max_gap_seconds > 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> LookingAwayThresholds:
        return cls(
            yaw_degrees=settings.looking_away_yaw_degrees,
            pitch_degrees=settings.looking_away_pitch_degrees,
            min_frames=settings.looking_away_min_frames,
            min_seconds=settings.looking_away_min_seconds,
            max_gap_seconds=settings.looking_away_max_gap_seconds,
        )


@dataclass(frozen=True)
class Span:
    """An event over time: from the first to the last observation that showed it.

    ``ongoing`` is true when the span runs up to the last observation given, so later frames
    may extend it (or, for LOOKING_AWAY, make a too-short run count).
    """

    event: VisionEvent
    start: float
    end: float
    confidence: float
    frames: int
    ongoing: bool


@dataclass(frozen=True)
class FrameVerdict:
    """The events one frame shows on its own (``/cv/analyze-frame``)."""

    events: list[VisionEvent]
    observation: FrameObservation | None


def is_looking_away(observation: FrameObservation, thresholds: LookingAwayThresholds) -> bool:
    """One face whose measured pose is past the yaw or pitch threshold."""
    if observation.face_count != 1 or observation.yaw is None or observation.pitch is None:
        return False
    return (
        abs(observation.yaw) > thresholds.yaw_degrees
        or abs(observation.pitch) > thresholds.pitch_degrees
    )


def _condition(
    observation: FrameObservation, thresholds: LookingAwayThresholds
) -> VisionEvent | None:
    if observation.face_count == 0:
        return VisionEvent.NO_FACE
    if observation.face_count > 1:
        return VisionEvent.MULTIPLE_FACES
    if is_looking_away(observation, thresholds):
        return VisionEvent.LOOKING_AWAY
    return None


def frame_events(
    observation: FrameObservation, thresholds: LookingAwayThresholds
) -> list[VisionEvent]:
    """The events of one frame alone: no minimum duration applies."""
    condition = _condition(observation, thresholds)
    return [] if condition is None else [condition]


def find_spans(
    observations: Sequence[FrameObservation], thresholds: LookingAwayThresholds
) -> list[Span]:
    """Spans of NO_FACE, MULTIPLE_FACES and LOOKING_AWAY over time-ordered observations.

    A span is a run of consecutive observations in the same condition, broken by any other
    condition or by a gap longer than ``max_gap_seconds``. NO_FACE and MULTIPLE_FACES count
    from one frame; LOOKING_AWAY needs ``min_frames`` frames AND ``min_seconds`` between its
    first and last frame. A span's confidence is the mean of its frames' confidences.
    """
    if any(b.timestamp < a.timestamp for a, b in zip(observations, observations[1:], strict=False)):
        raise ValueError("observations must be in time order")
    spans: list[Span] = []
    run: list[FrameObservation] = []
    run_condition: VisionEvent | None = None

    def close(ongoing: bool) -> None:
        if run_condition is None or not run:
            return
        duration = run[-1].timestamp - run[0].timestamp
        if run_condition is VisionEvent.LOOKING_AWAY and not (
            len(run) >= thresholds.min_frames and duration >= thresholds.min_seconds
        ):
            return
        spans.append(
            Span(
                event=run_condition,
                start=run[0].timestamp,
                end=run[-1].timestamp,
                confidence=float(np.mean([o.confidence for o in run])),
                frames=len(run),
                ongoing=ongoing,
            )
        )

    for observation in observations:
        condition = _condition(observation, thresholds)
        gap = bool(run) and observation.timestamp - run[-1].timestamp > thresholds.max_gap_seconds
        if condition != run_condition or gap:
            close(ongoing=False)
            run, run_condition = [], condition
        run.append(observation)
    close(ongoing=True)
    return spans


def analyze_frame(
    analyzer: FaceAnalyzer,
    data: bytes,
    thresholds: LookingAwayThresholds,
    *,
    timestamp: float = 0.0,
) -> FrameVerdict:
    """One uploaded frame's verdict: NO_FRAME_RECEIVED for no bytes, INVALID_IMAGE for bytes
    that do not decode as a picture, else the frame's own events (possibly none)."""
    if not data:
        return FrameVerdict([VisionEvent.NO_FRAME_RECEIVED], None)
    try:
        image = decode_image(data)
    except UndecodableMedia:
        return FrameVerdict([VisionEvent.INVALID_IMAGE], None)
    observation = analyzer.observe(image, timestamp=timestamp)
    return FrameVerdict(frame_events(observation, thresholds), observation)


# --------------------------------------------------------------------------- the analyzer

#: Candidates below the face threshold but above this still tell how close a NO_FACE was.
_CANDIDATE_FLOOR = 0.2
#: The mesh runs on the detected face's box grown by this much on each side.
_CROP_MARGIN = 0.6


class FaceAnalyzer:
    """MediaPipe face detection + face mesh on one thread's behalf.

    Not thread-safe (MediaPipe graphs keep per-call state): create one per worker thread and
    reuse it; building one takes about 25 ms (after mediapipe's first import). ``close()``
    (or a ``with`` block) frees the graphs.

    Work per frame: the picture is shrunk so its longer side is at most ``max_side`` pixels
    (the full-range detector sees 192x192 anyway); the face mesh runs only when exactly one
    face is found, on a crop around it (landmarks are mapped back to the full picture for the
    pose). The mesh runs in static-image mode: frames from different sessions share an
    analyzer, so nothing is tracked from one frame to the next.
    """

    def __init__(self, *, min_face_confidence: float = 0.5, max_side: int = 640) -> None:
        if not 0.0 < min_face_confidence < 1.0:
            raise ValueError("min_face_confidence must be between 0 and 1")
        if max_side < 64:
            raise ValueError("max_side must be at least 64")
        import mediapipe as mp  # heavy import: only when an analyzer is built

        self.min_face_confidence = min_face_confidence
        self.max_side = max_side
        self._detector: Any = mp.solutions.face_detection.FaceDetection(
            # The full-range model (faces up to ~5 m): a second person further back counts.
            model_selection=1,
            min_detection_confidence=min(_CANDIDATE_FLOOR, min_face_confidence),
        )
        self._mesh: Any = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=False
        )

    def observe_bytes(self, data: bytes, *, timestamp: float = 0.0) -> FrameObservation:
        """Decode a JPEG/PNG and observe it; raises ``UndecodableMedia`` for other bytes."""
        return self.observe(decode_image(data), timestamp=timestamp)

    def observe(self, image: RgbImage, *, timestamp: float = 0.0) -> FrameObservation:
        """Faces and, for a single face, head pose in an H x W x 3 RGB picture."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("expected an H x W x 3 uint8 RGB picture")
        image = self._shrink(image)
        height, width = image.shape[:2]
        detections = self._detector.process(image).detections or []
        scores = sorted((float(d.score[0]) for d in detections), reverse=True)
        faces = [s for s in scores if s >= self.min_face_confidence]
        if not faces:
            best_candidate = scores[0] if scores else 0.0
            return FrameObservation(timestamp, 0, 1.0 - best_candidate)
        if len(faces) > 1:
            return FrameObservation(timestamp, len(faces), faces[-1])
        best = max(detections, key=lambda d: float(d.score[0]))
        pose = self._pose(image, best.location_data.relative_bounding_box, width, height)
        if pose is None:
            return FrameObservation(timestamp, 1, faces[0])
        return FrameObservation(timestamp, 1, faces[0], pose.yaw, pose.pitch, pose.roll)

    def _shrink(self, image: RgbImage) -> RgbImage:
        height, width = image.shape[:2]
        scale = self.max_side / max(height, width)
        if scale >= 1.0:
            return np.ascontiguousarray(image)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # type: ignore[return-value]

    def _pose(self, image: RgbImage, box: Any, width: int, height: int) -> HeadPose | None:
        left = max(0, int((box.xmin - _CROP_MARGIN * box.width) * width))
        top = max(0, int((box.ymin - _CROP_MARGIN * box.height) * height))
        right = min(width, int((box.xmin + (1 + _CROP_MARGIN) * box.width) * width) + 1)
        bottom = min(height, int((box.ymin + (1 + _CROP_MARGIN) * box.height) * height) + 1)
        if right - left < 16 or bottom - top < 16:
            return None
        crop = np.ascontiguousarray(image[top:bottom, left:right])
        result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        points = landmark_points(
            result.multi_face_landmarks[0].landmark, right - left, bottom - top
        ) + np.array([left, top], dtype=np.float64)
        return estimate_head_pose(points, width, height)

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
