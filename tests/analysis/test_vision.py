"""Faces and head pose on real pictures: scikit-image's astronaut, coffee and rocket photos,
and pictures made from them (two faces, a rolled head, a synthetically turned face)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from tests.support import analysis_assets as assets
from tests.support.reference_proctorbe import reference_pose
from vigil.analysis.media import UndecodableMedia
from vigil.analysis.pose import MODEL_POINTS, camera_matrix, estimate_head_pose
from vigil.analysis.vision import (
    FaceAnalyzer,
    LookingAwayThresholds,
    VisionEvent,
    analyze_frame,
    frame_events,
)

DEFAULTS = LookingAwayThresholds()


@pytest.fixture(scope="module")
def analyzer() -> Iterator[FaceAnalyzer]:
    with FaceAnalyzer() as found:
        yield found


# --------------------------------------------------------------------------- pose arithmetic


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx  # the order cv2.RQDecomp3x3 decomposes into


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"),
    [(0, 0, 0), (45, 0, 0), (-45, 0, 0), (0, 30, 0), (0, -30, 0), (0, 0, 30), (20, -15, 10)],
)
def test_pose_recovers_a_projected_model_exactly(yaw: float, pitch: float, roll: float) -> None:
    """The model points, turned by a known pose in front of the camera on the camera axis and
    projected, give back that pose in degrees (no factor, no mismatched pairs)."""
    width, height = 640, 480
    rvec, _ = cv2.Rodrigues(_rotation(yaw, pitch, roll))
    points, _ = cv2.projectPoints(
        MODEL_POINTS, rvec, np.array([0.0, 0.0, 60.0]), camera_matrix(width, height), None
    )
    pose = estimate_head_pose(points.reshape(-1, 2), width, height)
    assert pose is not None
    assert (pose.yaw, pose.pitch, pose.roll) == (
        pytest.approx(yaw, abs=0.5),
        pytest.approx(pitch, abs=0.5),
        pytest.approx(roll, abs=0.5),
    )


def test_pose_is_measured_against_the_line_to_the_face() -> None:
    """A frontal face off to the side of the picture, looking at the camera, is frontal."""
    width, height = 640, 480
    position = np.array([25.0, -15.0, 60.0])
    towards_camera = -position / np.linalg.norm(position)
    # Turn the model so its forward axis (-z in camera axes) points at the camera.
    z = -towards_camera
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    rotation = np.stack([x, np.cross(z, x), z], axis=1)
    rvec, _ = cv2.Rodrigues(rotation)
    points, _ = cv2.projectPoints(MODEL_POINTS, rvec, position, camera_matrix(width, height), None)
    pose = estimate_head_pose(points.reshape(-1, 2), width, height)
    assert pose is not None
    assert abs(pose.yaw) < 0.5
    assert abs(pose.pitch) < 0.5


# --------------------------------------------------------------------------- real pictures


def test_frontal_astronaut_is_one_face_looking_at_the_camera(analyzer: FaceAnalyzer) -> None:
    seen = analyzer.observe(assets.astronaut())
    assert seen.face_count == 1
    assert seen.confidence > 0.8
    assert seen.yaw is not None
    assert seen.pitch is not None
    assert seen.roll is not None
    assert abs(seen.yaw) < 5
    assert abs(seen.roll) < 8
    assert abs(seen.pitch) < DEFAULTS.pitch_degrees - 5
    assert frame_events(seen, DEFAULTS) == []


def test_frontal_astronaut_snapshot_has_no_event(analyzer: FaceAnalyzer) -> None:
    snapshot = assets.jpeg(assets.on_canvas(assets.astronaut()))
    verdict = analyze_frame(analyzer, snapshot, DEFAULTS)
    assert verdict.events == []
    assert verdict.observation is not None
    assert verdict.observation.face_count == 1


def test_reference_computation_flags_the_frontal_astronaut() -> None:
    """The reference ProctorBE's arithmetic (mismatched landmark/model pairs, degrees scaled by
    180) calls the frontal astronaut looking away; ours, on the same mesh, does not."""
    import mediapipe as mp

    image = assets.astronaut()
    height, width = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        landmarks = mesh.process(image).multi_face_landmarks[0].landmark
    theirs = reference_pose(landmarks, width, height)
    assert theirs.looking_away
    assert max(abs(theirs.yaw), abs(theirs.pitch)) > 180  # not even a possible angle

    from vigil.analysis.pose import landmark_points

    ours = estimate_head_pose(landmark_points(landmarks, width, height), width, height)
    assert ours is not None
    assert abs(ours.yaw) < DEFAULTS.yaw_degrees
    assert abs(ours.pitch) < DEFAULTS.pitch_degrees


def test_two_astronauts_are_multiple_faces(analyzer: FaceAnalyzer) -> None:
    seen = analyzer.observe(assets.two_astronauts())
    assert seen.face_count == 2
    assert seen.yaw is None
    assert frame_events(seen, DEFAULTS) == [VisionEvent.MULTIPLE_FACES]


@pytest.mark.parametrize("picture", [assets.coffee, assets.rocket], ids=["coffee", "rocket"])
def test_pictures_without_a_face_are_no_face(analyzer: FaceAnalyzer, picture: object) -> None:
    seen = analyzer.observe(picture())  # type: ignore[operator]
    assert seen.face_count == 0
    assert 0.5 < seen.confidence <= 1.0
    assert frame_events(seen, DEFAULTS) == [VisionEvent.NO_FACE]


@pytest.mark.parametrize("degrees", [30, -30])
def test_a_rolled_head_is_roll_not_looking_away(analyzer: FaceAnalyzer, degrees: float) -> None:
    """Rotating the photo in its plane leans the head sideways: roll changes by about the
    rotation (OpenCV turns counter-clockwise for positive angles), yaw stays small."""
    upright = analyzer.observe(assets.astronaut())
    seen = analyzer.observe(assets.rolled_astronaut(degrees))
    assert seen.face_count == 1
    assert seen.roll is not None
    assert upright.roll is not None
    assert seen.yaw is not None
    assert seen.roll - upright.roll == pytest.approx(-degrees, abs=5)
    assert abs(seen.yaw) < 5
    assert frame_events(seen, DEFAULTS) == []


def test_a_turned_face_reads_as_yaw_in_the_turn_direction(analyzer: FaceAnalyzer) -> None:
    """The synthetic turn (assets.turned_astronaut: a 3D-aware warp of the face mesh) shows
    up as yaw that grows with the turn, has the turn's sign, is mirrored when the picture is
    mirrored, and flags LOOKING_AWAY once past the threshold. A single photo cannot honestly
    be turned as far as 45 degrees (the far side of the face is not in it: the warp tears the
    face and the measure saturates near 20 degrees), so the threshold here is 15 degrees."""

    def yaw(image: np.ndarray) -> float:
        seen = analyzer.observe(np.ascontiguousarray(image))
        assert seen.face_count == 1
        assert seen.yaw is not None
        return seen.yaw

    frontal = yaw(assets.astronaut())
    ten, twenty = yaw(assets.turned_astronaut(10)), yaw(assets.turned_astronaut(20))
    assert frontal + 5 < ten < twenty - 5
    assert twenty > 15
    assert yaw(assets.turned_astronaut(20)[:, ::-1]) < -15

    strict = LookingAwayThresholds(yaw_degrees=15, pitch_degrees=DEFAULTS.pitch_degrees)
    turned = analyzer.observe(assets.turned_astronaut(20))
    assert frame_events(turned, strict) == [VisionEvent.LOOKING_AWAY]
    assert frame_events(turned, DEFAULTS) == []  # 18 degrees is not 30
    assert frame_events(analyzer.observe(assets.astronaut()), strict) == []


# --------------------------------------------------------------------------- bad input


def test_empty_bytes_are_no_frame_received(analyzer: FaceAnalyzer) -> None:
    verdict = analyze_frame(analyzer, b"", DEFAULTS)
    assert verdict.events == [VisionEvent.NO_FRAME_RECEIVED]
    assert verdict.observation is None


@pytest.mark.parametrize(
    "data", [b"not a picture", b"\xff\xd8\xff\xe0" + b"\x00" * 64, b"\x89PNG\r\n\x1a\n"]
)
def test_undecodable_bytes_are_invalid_image(analyzer: FaceAnalyzer, data: bytes) -> None:
    verdict = analyze_frame(analyzer, data, DEFAULTS)
    assert verdict.events == [VisionEvent.INVALID_IMAGE]
    with pytest.raises(UndecodableMedia):
        analyzer.observe_bytes(data)


def test_observe_refuses_a_non_rgb_array(analyzer: FaceAnalyzer) -> None:
    with pytest.raises(ValueError, match="RGB"):
        analyzer.observe(np.zeros((10, 10), dtype=np.uint8))
