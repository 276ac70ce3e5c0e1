"""Per-frame records that flow one way through the pipeline.

Shape legend: ``H, W`` image height and width in pixels; ``N`` boxes in a frame.

Records are frozen struct-of-arrays dataclasses. They validate their shapes on
construction (naming expected vs actual) and are never mutated: a stage returns
new records, e.g. ``packet.replace(tracks=...)``.

A :class:`Packet` bundles everything known about one frame so far. Each stage
reads some fields of the packets it is given and returns packets with one more
field filled in; sinks read the finished packets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np


def _check_shape(name: str, array: np.ndarray, shape: tuple[int | None, ...]) -> None:
    """Raise ValueError unless ``array`` matches ``shape`` (``None`` = any size)."""
    ok = array.ndim == len(shape) and all(
        want is None or want == got for want, got in zip(shape, array.shape, strict=True)
    )
    if not ok:
        want_txt = str(tuple("*" if s is None else s for s in shape)).replace("'", "")
        raise ValueError(f"{name}: expected shape {want_txt}, got {tuple(array.shape)}")


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One decoded video frame.

    Attributes:
        index: 0-based position among the frames the source delivered.
        pts: presentation timestamp in the stream's time base (None if the
            container had none).
        time_s: presentation time in seconds from the stream start, from
            ``pts * time_base`` (never ``index / fps``).
        image: (H, W, 3) uint8 RGB, already turned upright by the rotation metadata.
        wall_s: wall-clock time (``time.time()``) at which the frame was decoded; latency
            measurements compare against it.
    """

    index: int
    pts: int | None
    time_s: float
    image: np.ndarray
    wall_s: float = 0.0

    def __post_init__(self) -> None:
        _check_shape("Frame.image", self.image, (None, None, 3))
        if self.image.dtype != np.uint8:
            raise ValueError(f"Frame.image: expected dtype uint8, got {self.image.dtype}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """Person boxes found in one frame.

    Attributes:
        xyxy_px: (N, 4) float32 boxes, image pixels, x1 y1 x2 y2.
        score: (N,) float32 detector confidence in [0, 1].
    """

    xyxy_px: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        _check_shape("Detections.xyxy_px", self.xyxy_px, (None, 4))
        _check_shape("Detections.score", self.score, (len(self.xyxy_px),))

    def __len__(self) -> int:
        return len(self.xyxy_px)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def select(self, mask: np.ndarray) -> Detections:
        return Detections(self.xyxy_px[mask], self.score[mask])


@dataclass(frozen=True, slots=True, eq=False)
class Tracks:
    """Confirmed player tracks in one frame.

    Attributes:
        track_id: (N,) int64 persistent player ids (>= 1).
        xyxy_px: (N, 4) float32 boxes, image pixels.
        score: (N,) float32 confidence of the box the track was updated with.
    """

    track_id: np.ndarray
    xyxy_px: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        _check_shape("Tracks.track_id", self.track_id, (None,))
        n = len(self.track_id)
        _check_shape("Tracks.xyxy_px", self.xyxy_px, (n, 4))
        _check_shape("Tracks.score", self.score, (n,))

    def __len__(self) -> int:
        return len(self.track_id)

    @classmethod
    def empty(cls) -> Tracks:
        return cls(
            np.zeros((0,), np.int64), np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        )

    def select(self, mask: np.ndarray) -> Tracks:
        return Tracks(self.track_id[mask], self.xyxy_px[mask], self.score[mask])


def _check_optional(name: str, array: np.ndarray | None, shape: tuple[int | None, ...]) -> None:
    if array is not None:
        _check_shape(name, array, shape)


@dataclass(frozen=True, slots=True, eq=False)
class Keypoints:
    """2D keypoints (and, when the model gives them, metric 3D) of tracked players in one frame.

    Rows are a subset of the frame's :class:`Tracks`, in their order: a track whose box is
    shorter than ``keypoints.min_box_height_px``, or whose pose score is under
    ``keypoints.min_pose_score``, gets no row. ``K`` depends on ``layout``.

    Attributes:
        track_id: (N,) int64, the player each row belongs to.
        xy_px: (N, K, 2) float32 continuous pixel coordinates of the full frame: (0, 0) is the
            image's top-left corner, pixel (col, row) has its centre at (col + 0.5, row + 0.5).
        conf: (N, K) float32 in [0, 1]: the model's confidence that the point is
            visible and where it says (BlazePose: visibility × presence).
        layout: name of the keypoint layout, e.g. ``"blazepose33"``, ``"coco17"``.
        world_m: (N, K, 3) float32 or None: root-relative 3D points in metres, camera
            axes (x right, y down, z away), as BlazePose's world landmarks give them.
    """

    track_id: np.ndarray
    xy_px: np.ndarray
    conf: np.ndarray
    layout: str
    world_m: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_shape("Keypoints.track_id", self.track_id, (None,))
        n = len(self.track_id)
        _check_shape("Keypoints.xy_px", self.xy_px, (n, None, 2))
        k = self.xy_px.shape[1]
        _check_shape("Keypoints.conf", self.conf, (n, k))
        _check_optional("Keypoints.world_m", self.world_m, (n, k, 3))

    def __len__(self) -> int:
        return len(self.track_id)

    def select(self, mask: np.ndarray) -> Keypoints:
        world = None if self.world_m is None else self.world_m[mask]
        return Keypoints(self.track_id[mask], self.xy_px[mask], self.conf[mask], self.layout, world)


#: the 22 SMPL-X body joints, root first, in the model's order (the smplx package's conventions)
BODY_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)  # fmt: skip
#: SMPL-X counts, each joint count derived from the names above
NUM_BODY_JOINTS_WITH_ROOT = len(BODY_JOINT_NAMES)  # 22: the root (global_orient) and body_pose's joints
NUM_BODY_JOINTS = NUM_BODY_JOINTS_WITH_ROOT - 1  # 21: body_pose's joints, root excluded
NUM_BETAS = 10
NUM_HAND_JOINTS = 15
NUM_EXPRESSION = 10


@dataclass(frozen=True, slots=True, eq=False)
class BodyParams:
    """SMPL-X parameters of tracked players in one frame, in the camera frame.

    Rotations are axis-angle (radians). The camera looks down +z, x right, y down.

    Attributes:
        track_id: (N,) int64.
        betas: (N, 10) float32 shape coefficients.
        global_orient: (N, 3) float32 root rotation.
        body_pose: (N, 21, 3) float32 body joint rotations (SMPL-X order).
        transl: (N, 3) float32 root translation, metres, camera frame.
        cam_K: (3, 3) float32 pinhole intrinsics the parameters were fitted with (pixels).
        joint_conf: (N, 22) float32 in [0, 1]: confidence of the root and each body joint.
        joints_cam_m: (N, J, 3) float32 or None: the body model's joints, camera frame.
        left_hand_pose / right_hand_pose: (N, 15, 3) or None. jaw_pose: (N, 3) or None.
        expression: (N, 10) or None.
        body_model: name of the body model the parameters drive (``smplx``, ``mannequin``).
        joint_world_only: (N, 22) bool or None: True where a joint's rotation rests on
            keypoints the fit treated as hidden (a limb behind the body), placed by the keypoint
            model's metric 3D guess; its error is that guess's, an angle that does not shrink as
            the player's box grows.
    """

    track_id: np.ndarray
    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    cam_K: np.ndarray
    joint_conf: np.ndarray
    joints_cam_m: np.ndarray | None = None
    left_hand_pose: np.ndarray | None = None
    right_hand_pose: np.ndarray | None = None
    jaw_pose: np.ndarray | None = None
    expression: np.ndarray | None = None
    body_model: str = ""
    joint_world_only: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_shape("BodyParams.track_id", self.track_id, (None,))
        n = len(self.track_id)
        _check_shape("BodyParams.betas", self.betas, (n, NUM_BETAS))
        _check_shape("BodyParams.global_orient", self.global_orient, (n, 3))
        _check_shape("BodyParams.body_pose", self.body_pose, (n, NUM_BODY_JOINTS, 3))
        _check_shape("BodyParams.transl", self.transl, (n, 3))
        _check_shape("BodyParams.cam_K", self.cam_K, (3, 3))
        _check_shape("BodyParams.joint_conf", self.joint_conf, (n, NUM_BODY_JOINTS + 1))
        _check_optional("BodyParams.joints_cam_m", self.joints_cam_m, (n, None, 3))
        _check_optional("BodyParams.left_hand_pose", self.left_hand_pose, (n, NUM_HAND_JOINTS, 3))
        _check_optional("BodyParams.right_hand_pose", self.right_hand_pose, (n, NUM_HAND_JOINTS, 3))
        _check_optional("BodyParams.jaw_pose", self.jaw_pose, (n, 3))
        _check_optional("BodyParams.expression", self.expression, (n, NUM_EXPRESSION))
        _check_optional("BodyParams.joint_world_only", self.joint_world_only, (n, NUM_BODY_JOINTS + 1))

    def __len__(self) -> int:
        return len(self.track_id)

    def select(self, mask: np.ndarray) -> BodyParams:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[mask]

        return BodyParams(
            self.track_id[mask], self.betas[mask], self.global_orient[mask], self.body_pose[mask],
            self.transl[mask], self.cam_K, self.joint_conf[mask], pick(self.joints_cam_m),
            pick(self.left_hand_pose), pick(self.right_hand_pose), pick(self.jaw_pose),
            pick(self.expression), self.body_model, pick(self.joint_world_only),
        )


@dataclass(frozen=True, slots=True, eq=False)
class PitchCalibration:
    """Where the pitch is in one frame.

    Pitch coordinates: metres on the standard 105 × 68 m pitch, origin at the pitch
    centre, x along the touchlines, y along the halfway line (z up, when used).

    Attributes:
        image_to_pitch: (3, 3) float64 homography, image pixels → pitch metres (ground plane).
        reprojection_error_px: RMS error of the fit in pixels (NaN when unknown).
        source: how it was obtained: "manual", "auto" or "propagated".
        cam_K: (3, 3) intrinsics in pixels, or None when only the homography is known.
    """

    image_to_pitch: np.ndarray
    reprojection_error_px: float
    source: str
    cam_K: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_shape("PitchCalibration.image_to_pitch", self.image_to_pitch, (3, 3))
        _check_optional("PitchCalibration.cam_K", self.cam_K, (3, 3))


#: PlayerMetrics.team codes
TEAM_A, TEAM_B, TEAM_OTHER, TEAM_UNKNOWN = 0, 1, 2, -1
#: each team code's drawing colour (RGB): overlay, minimap, report plots
TEAM_RGB = {TEAM_A: (230, 60, 60), TEAM_B: (70, 140, 255), TEAM_OTHER: (255, 220, 0), TEAM_UNKNOWN: (255, 210, 0)}

#: PlayerMetrics.flags bits
FLAG_NO_CALIBRATION = 1 << 0  # no pitch calibration in this frame: no position, no speed
FLAG_POSITION_OUTLIER = 1 << 1  # ground point jumped: left out of the speed
FLAG_IMPLAUSIBLE_SPEED = 1 << 2  # smoothed speed > max_speed_mps: not used
FLAG_OFF_PITCH = 1 << 3  # ground point outside the pitch (+ off_pitch_margin_m)
FLAG_GROUND_FROM_MESH = 1 << 4  # the ground point came from the body mesh (else the box)
FLAG_BOX_SIZE = 1 << 5  # box far taller/shorter than its neighbours' (merged players, a fragment):
# its bottom edge is no ground point, the position is left out of the speed
FLAG_FEET_CUT = 1 << 6  # box reaches the frame's bottom edge: the feet may be below it, so it has
# no ground point: no pitch position, speed or pitch-metre joint (streamer.soccer.ground.feet_cut)
#: flag bit -> the name a CSV writes for it
FLAG_NAMES: dict[int, str] = {
    FLAG_NO_CALIBRATION: "no_calibration",
    FLAG_POSITION_OUTLIER: "position_outlier",
    FLAG_IMPLAUSIBLE_SPEED: "implausible_speed",
    FLAG_OFF_PITCH: "off_pitch",
    FLAG_GROUND_FROM_MESH: "ground_from_mesh",
    FLAG_BOX_SIZE: "box_size",
    FLAG_FEET_CUT: "feet_cut",
}


def describe_flags(bits: int) -> str:
    """``"name|name"`` of the bits set in one ``PlayerMetrics.flags`` value ("" when none)."""
    return "|".join(name for bit, name in FLAG_NAMES.items() if int(bits) & bit)


#: the joint angles of a body (:func:`streamer.soccer.angles.joint_angles`), in the order of
#: ``PlayerMetrics.angles_deg``'s columns and ``angles.csv``'s
ANGLE_NAMES: tuple[str, ...] = (
    "left_knee_flexion_deg", "right_knee_flexion_deg", "left_hip_flexion_deg", "right_hip_flexion_deg",
    "trunk_lean_deg",
)  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class PlayerMetrics:
    """Per-player soccer facts in one frame; rows in the order of the frame's Tracks.

    Attributes:
        track_id: (N,) int64.
        team: (N,) int64 team code: ``TEAM_A``/``TEAM_B`` (0/1) for the two teams, ``TEAM_OTHER`` (2)
            for referees and others, ``TEAM_UNKNOWN`` (-1).
        pitch_xy_m: (N, 2) float32 ground point on the pitch (metres); NaN when uncalibrated.
        speed_mps: (N,) float32 smoothed ground speed (m/s); NaN when unknown.
        flags: (N,) int64 bit flags (``FLAG_*`` above, named by :func:`describe_flags`), 0 = nothing to note.
        joints_pitch_m: (N, J, 3) float32 or None: the body joints (``BodyParams.joints_cam_m``
            order) in pitch coordinates, z up, when a mesh and a camera calibration both exist.
        angles_deg: (N, A) float32 or None: the joint angles of :data:`ANGLE_NAMES` (degrees), NaN
            rows for players without a body; None when no player has one.
    """

    track_id: np.ndarray
    team: np.ndarray
    pitch_xy_m: np.ndarray
    speed_mps: np.ndarray
    flags: np.ndarray
    joints_pitch_m: np.ndarray | None = None
    angles_deg: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_shape("PlayerMetrics.track_id", self.track_id, (None,))
        n = len(self.track_id)
        _check_shape("PlayerMetrics.team", self.team, (n,))
        _check_shape("PlayerMetrics.pitch_xy_m", self.pitch_xy_m, (n, 2))
        _check_shape("PlayerMetrics.speed_mps", self.speed_mps, (n,))
        _check_shape("PlayerMetrics.flags", self.flags, (n,))
        _check_optional("PlayerMetrics.joints_pitch_m", self.joints_pitch_m, (n, None, 3))
        _check_optional("PlayerMetrics.angles_deg", self.angles_deg, (n, len(ANGLE_NAMES)))

    def __len__(self) -> int:
        return len(self.track_id)


@dataclass(frozen=True, slots=True, eq=False)
class Packet:
    """Everything known about one frame; stages fill fields in, in order.

    ``body`` is the mesh stage's output, replaced by the smoothed parameters when
    the smoother runs; ``body_raw`` then keeps the unsmoothed ones for the sinks.
    ``shot`` is the 0-based index of the camera shot the frame belongs to (it goes up
    by one at each cut, :mod:`streamer.detection.shots`); stages restart at a new shot.
    """

    frame: Frame
    detections: Detections | None = None
    tracks: Tracks | None = None
    #: (2, 3) affine taking the previous frame's pixels to this frame's (global camera motion)
    camera_motion: np.ndarray | None = None
    calibration: PitchCalibration | None = None
    keypoints: Keypoints | None = None
    body: BodyParams | None = None
    body_raw: BodyParams | None = None
    metrics: PlayerMetrics | None = None
    shot: int = 0

    def replace(self, **changes: Any) -> Packet:
        """A new packet with the given fields replaced."""
        return dataclasses.replace(self, **changes)
