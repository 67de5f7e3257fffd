"""Head pose (yaw, pitch, roll in degrees) from MediaPipe face-mesh landmarks, with solvePnP.

The 3D model points are the vertices of MediaPipe's own canonical face model
(``mediapipe/modules/face_geometry/data/canonical_face_model.obj``, Apache-2.0) whose index
IS the face-mesh landmark index, so every image point is paired with the 3D point of the same
landmark. The model's axes (x right, y up, z toward the viewer, units about 1 cm) are turned
into OpenCV's camera axes (x right, y down, z away from the camera) so that a face looking
into the camera has the identity rotation.

Angles are measured against the line from the camera to the face, not against the camera's
optical axis: a face at the edge of the picture that looks straight at the camera reads as
frontal. Signs, as the viewer sees the picture: yaw > 0 when the face turns toward the
picture's left (the person's own right), pitch > 0 when the face tilts down, roll > 0 when the
head leans clockwise. The three compose as R = Rz(roll) Ry(yaw) Rx(pitch), the order
``cv2.RQDecomp3x3`` decomposes into.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MODEL_POINTS",
    "MODEL_TO_CAMERA_AXES",
    "MOUTH_CORNERS",
    "MOUTH_CORNER_POINTS",
    "POSE_LANDMARKS",
    "HeadPose",
    "Landmark",
    "estimate_head_pose",
    "landmark_points",
]

#: Face-mesh landmark indexes used for the pose, and what each one is.
POSE_LANDMARKS: tuple[int, ...] = (1, 152, 33, 263, 6, 10)
#: The mouth corners (61, 291) are left out on purpose: a smile pulls them up, and on the
#: smiling astronaut photo they add about 9 degrees of false downward pitch.
MOUTH_CORNERS: tuple[int, ...] = (61, 291)

#: The canonical face model's vertices for POSE_LANDMARKS, in the model's own axes.
_CANONICAL = np.array(
    [
        (0.000000, -1.126865, 7.475604),  # 1: nose tip
        (0.000000, -9.403378, 4.264492),  # 152: chin
        (-4.445859, 2.663991, 3.173422),  # 33: outer eye corner, picture's left
        (4.445859, 2.663991, 3.173422),  # 263: outer eye corner, picture's right
        (0.000000, 2.473255, 5.788627),  # 6: nose bridge between the eyes
        (0.000000, 8.261778, 4.481535),  # 10: top of the forehead
    ],
    dtype=np.float64,
)
#: The canonical vertices of the mouth corners, for callers that want them.
MOUTH_CORNER_POINTS = np.array(
    [(-2.456206, -4.342621, 4.283884), (2.456206, -4.342621, 4.283884)], dtype=np.float64
)
#: Model axes (y up, z toward the viewer) to OpenCV camera axes (y down, z away).
MODEL_TO_CAMERA_AXES = np.array([1.0, -1.0, -1.0])
#: POSE_LANDMARKS' points in OpenCV camera axes.
MODEL_POINTS: NDArray[np.float64] = _CANONICAL * MODEL_TO_CAMERA_AXES


class Landmark(Protocol):
    """A face-mesh landmark: x and y normalised to the picture's width and height."""

    @property
    def x(self) -> float: ...

    @property
    def y(self) -> float: ...


@dataclass(frozen=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float


def landmark_points(
    landmarks: Sequence[Landmark],
    width: int,
    height: int,
    indexes: Sequence[int] = POSE_LANDMARKS,
) -> NDArray[np.float64]:
    """Pixel coordinates (N x 2) of the chosen landmarks."""
    return np.array(
        [(landmarks[i].x * width, landmarks[i].y * height) for i in indexes], dtype=np.float64
    )


def camera_matrix(width: int, height: int) -> NDArray[np.float64]:
    """An uncalibrated webcam: focal length = picture width (about 53 degrees across), centred."""
    return np.array(
        [[width, 0.0, width / 2], [0.0, width, height / 2], [0.0, 0.0, 1.0]], dtype=np.float64
    )


def estimate_head_pose(
    image_points: NDArray[np.float64],
    width: int,
    height: int,
    model_points: NDArray[np.float64] = MODEL_POINTS,
) -> HeadPose | None:
    """The head's pose from matching image points (N x 2 pixels) and model points (N x 3).

    None when solvePnP finds no solution or the points are degenerate.
    """
    if image_points.shape != (len(model_points), 2):
        raise ValueError("need one image point per model point")
    if not np.all(np.isfinite(image_points)):
        return None
    ok, rvec, tvec = cv2.solvePnP(
        model_points, image_points, camera_matrix(width, height), None, flags=cv2.SOLVEPNP_SQPNP
    )
    if not ok or tvec[2, 0] <= 0:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    relative = _toward_face(np.asarray(tvec, dtype=np.float64).reshape(3)).T @ rotation
    pitch, yaw, roll = cv2.RQDecomp3x3(relative)[0]
    # RQDecomp3x3 returns degrees already.
    return HeadPose(yaw=_wrap(yaw), pitch=_wrap(pitch), roll=_wrap(roll))


def _toward_face(translation: NDArray[np.float64]) -> NDArray[np.float64]:
    """A rotation whose z axis points from the camera to the face (columns: x, y, z)."""
    z = translation / np.linalg.norm(translation)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def _wrap(degrees: float) -> float:
    return float(math.remainder(degrees, 360.0))
