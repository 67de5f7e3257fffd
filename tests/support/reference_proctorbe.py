"""The reference ProctorBE's frame analysis (its services/cv_engine.py), restated to measure
against: the same MediaPipe configuration and the same head-pose arithmetic, bugs included.

Its pose pairs six face-mesh landmarks with six 3D points in a different order: landmark 33
(an eye corner) goes with the nose-tip point, 263 (the other eye corner) with the chin, 1 (the
nose tip) with an eye, 61 and 291 (mouth corners) with the other eye and a mouth corner, and
199 (below the lower lip) with a mouth corner. It then multiplies the angles that
cv2.RQDecomp3x3 returns, already in degrees, by 180, and calls |yaw| > 20 or |pitch| > 15
looking away. Only used by tests and bench/bench_analysis.py; none of it ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vigil.analysis.media import RgbImage

#: The order the reference reads landmarks in ...
REFERENCE_LANDMARKS = (33, 263, 1, 61, 291, 199)
#: ... and the 3D points it pairs them with, in this order: nose tip, chin, left eye corner,
#: right eye corner, left mouth corner, right mouth corner (a generic head model, y up).
REFERENCE_MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, -63.6, -12.5),
        (-43.3, 32.7, -26.0),
        (43.3, 32.7, -26.0),
        (-28.9, -28.9, -24.1),
        (28.9, -28.9, -24.1),
    ],
    dtype=np.float64,
)
YAW_LIMIT = 20.0
PITCH_LIMIT = 15.0


@dataclass(frozen=True)
class ReferencePose:
    looking_away: bool
    yaw: float
    pitch: float


def reference_pose(landmarks: Any, width: int, height: int) -> ReferencePose:
    """The reference's head pose and per-frame looking-away decision for one face mesh."""
    points = np.array(
        [(landmarks[i].x * width, landmarks[i].y * height) for i in REFERENCE_LANDMARKS],
        dtype=np.float64,
    )
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rvec, _ = cv2.solvePnP(
        REFERENCE_MODEL_POINTS, points, camera, np.zeros((4, 1)), flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return ReferencePose(False, 0.0, 0.0)
    rotation, _ = cv2.Rodrigues(rvec)
    angles = cv2.RQDecomp3x3(rotation)[0]
    pitch, yaw = angles[0] * 180.0, angles[1] * 180.0
    return ReferencePose(abs(yaw) > YAW_LIMIT or abs(pitch) > PITCH_LIMIT, yaw, pitch)


class ReferenceDetector:
    """The reference's detector set-up: short-range face detection at 0.5, then a tracking
    face mesh (refined landmarks, one face) on the whole frame whenever a face scored >= 0.7."""

    def __init__(self) -> None:
        import mediapipe as mp

        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=0.5
        )
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, refine_landmarks=True, max_num_faces=1
        )

    def analyze(self, rgb: RgbImage) -> list[str]:
        """The reference's events for one frame, without its per-session smoothing."""
        detections = self._detector.process(rgb).detections
        if not detections:
            return ["NO_FACE"]
        if float(detections[0].score[0]) < 0.7:
            return []
        events = ["MULTIPLE_FACES"] if len(detections) > 1 else []
        mesh = self._mesh.process(rgb)
        if not mesh.multi_face_landmarks:
            return events
        height, width = rgb.shape[:2]
        pose = reference_pose(mesh.multi_face_landmarks[0].landmark, width, height)
        return [*events, "LOOKING_AWAY"] if pose.looking_away else events

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()
