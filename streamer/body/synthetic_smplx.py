"""A synthetic stand-in for ``SMPLX_NEUTRAL.npz`` so the smplx backend runs without the real file.

Shape legend: ``V`` = 10475 vertices (the ``smplx`` package's vertex-index tables for the
nose, ears, toes and fingertips assume SMPL-X's count); ``J`` = 55 joints; ``F`` faces.

The file has every key ``smplx`` 0.1.28 reads for an SMPL-X model (``v_template``, ``f``,
``shapedirs``, ``posedirs``, ``J_regressor``, ``kintree_table``, ``weights``, the hand PCA
tables and means, the face-landmark tables) with SMPL-X's shapes and kinematic tree. The
body is a stick figure of spheres (one per joint) and tapered tubes (one per bone), rigidly
skinned to the joint whose rotation carries it; blend shapes are zero. The rest skeleton
and hand mean are the ``mannequin-x`` calibration of SMPL-X's (jaw and eyes placed by hand),
so for zero betas both backends put the joints in the same place. The J_regressor averages
each joint's sphere equator, which is centred on the joint, so joints regress exactly.

This is test data: it is not SMPL-X and must not be used to fit real people.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamer.body.skeleton import (
    NUM_BODY_JOINTS_WITH_ROOT,
    NUM_HAND_JOINTS,
    NUM_SMPLX_JOINTS,
    SMPLX_JOINT_NAMES,
    SMPLX_PARENTS,
)

#: vertices of an SMPL-X mesh
SMPLX_NUM_VERTICES = 10475
#: shape + expression components of SMPL-X v1.1 (300 + 100)
_NUM_SHAPEDIRS = 400
#: pose blend-shape features: 9 rotation-matrix entries for each non-root joint
_NUM_POSEDIRS = 9 * (NUM_SMPLX_JOINTS - 1)
_JAW, _LEFT_EYE, _RIGHT_EYE = (SMPLX_JOINT_NAMES.index(n) for n in ("jaw", "left_eye_smplhf", "right_eye_smplhf"))
_SEGMENTS = 12  # points per ring
_SPHERE_RINGS = 7  # latitude rings of a joint sphere, the middle one is the equator
_TUBE_RINGS = 4

#: sphere radius (m) per joint; fingers default to 1 cm
_RADIUS_M = {
    "pelvis": 0.12, "left_hip": 0.09, "right_hip": 0.09, "spine1": 0.12, "left_knee": 0.06,
    "right_knee": 0.06, "spine2": 0.12, "left_ankle": 0.045, "right_ankle": 0.045, "spine3": 0.13,
    "left_foot": 0.04, "right_foot": 0.04, "neck": 0.055, "left_collar": 0.06, "right_collar": 0.06,
    "head": 0.07, "left_shoulder": 0.05, "right_shoulder": 0.05, "left_elbow": 0.04, "right_elbow": 0.04,
    "left_wrist": 0.03, "right_wrist": 0.03, "jaw": 0.03, "left_eye_smplhf": 0.012, "right_eye_smplhf": 0.012,
}
#: extra leaf segments (owner joint, end offset from the owner in metres, end radius)
_LEAVES = (("head", (0.0, 0.17, 0.02), 0.09), ("left_foot", (0.0, -0.01, 0.07), 0.035),
           ("right_foot", (0.0, -0.01, 0.07), 0.035))


def mannequin_rest_skeleton() -> tuple[np.ndarray, np.ndarray]:
    """(55, 3) SMPL-X rest joints and (2, 45) left/right hand means from ``mannequin-x``'s calibration."""
    from scipy.spatial.transform import Rotation

    from streamer.body.mannequin_backend import MannequinBody

    body = MannequinBody("convex", lod=2, flat_hand_mean=False)
    rest, local = body.rest_skeleton()
    joints = np.zeros((NUM_SMPLX_JOINTS, 3))
    hands = np.zeros((NUM_SMPLX_JOINTS, 3))
    for k, name in enumerate(body.joint_names):
        j = SMPLX_JOINT_NAMES.index(name)
        joints[j] = rest[k]
        hands[j] = Rotation.from_matrix(local[k].astype(np.float64)).as_rotvec()
    head = joints[SMPLX_JOINT_NAMES.index("head")]
    joints[_JAW] = head + (0.0, -0.02, 0.04)
    joints[_LEFT_EYE] = head + (0.03, 0.06, 0.08)  # x points to the body's left
    joints[_RIGHT_EYE] = head + (-0.03, 0.06, 0.08)
    first = NUM_BODY_JOINTS_WITH_ROOT + 3
    hand_means = hands[first:].reshape(2, NUM_HAND_JOINTS * 3)
    return joints, hand_means


def _frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors u, v with u x v = axis."""
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(helper, axis)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


def _rings(centres: np.ndarray, radii: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """(R * S, 3) points of R rings around ``axis``."""
    u, v = _frame(axis)
    theta = np.linspace(0, 2 * np.pi, _SEGMENTS, endpoint=False)
    circle = np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v  # (S, 3)
    return (centres[:, None, :] + radii[:, None, None] * circle[None]).reshape(-1, 3)


def _band_faces(n_rings: int) -> np.ndarray:
    """Triangles joining consecutive rings (outward when the rings advance along u x v)."""
    s = _SEGMENTS
    i, k = np.meshgrid(np.arange(n_rings - 1), np.arange(s), indexing="ij")
    a, b = i * s + k, i * s + (k + 1) % s
    c, d = (i + 1) * s + k, (i + 1) * s + (k + 1) % s
    return np.concatenate([np.stack([a, b, c], -1), np.stack([b, d, c], -1)]).reshape(-1, 3)


def _sphere(centre: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, faces and the equator's vertex indices of a UV sphere."""
    axis = np.array([0, 1.0, 0])
    lat = np.linspace(-np.pi / 2, np.pi / 2, _SPHERE_RINGS + 2)[1:-1]
    verts = _rings(centre + np.outer(np.sin(lat), axis) * radius, radius * np.cos(lat), axis)
    n = len(verts)
    poles = np.stack([centre - radius * axis, centre + radius * axis])
    ring0, last = np.arange(_SEGMENTS), np.arange(_SEGMENTS) + n - _SEGMENTS
    south = np.stack([np.full(_SEGMENTS, n), np.roll(ring0, -1), ring0], -1)
    north = np.stack([np.full(_SEGMENTS, n + 1), last, np.roll(last, -1)], -1)
    faces = np.concatenate([_band_faces(_SPHERE_RINGS), south, north])
    equator = np.arange(_SEGMENTS) + _SEGMENTS * (_SPHERE_RINGS // 2)
    return np.concatenate([verts, poles]), faces, equator


def _tube(a: np.ndarray, b: np.ndarray, r_a: float, r_b: float) -> tuple[np.ndarray, np.ndarray]:
    axis = (b - a) / max(np.linalg.norm(b - a), 1e-9)
    s = np.linspace(0, 1, _TUBE_RINGS)
    return _rings(a + np.outer(s, b - a), r_a + s * (r_b - r_a), axis), _band_faces(_TUBE_RINGS)


def _orient_outward(verts: np.ndarray, faces: np.ndarray, centre_of: np.ndarray) -> np.ndarray:
    """Flip faces whose normal points toward the part's axis point ``centre_of`` (F, 3)."""
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = np.einsum("fi,fi->f", normal, tri.mean(1) - centre_of) < 0
    faces = faces.copy()
    faces[inward] = faces[inward][:, ::-1]
    return faces


def synthetic_smplx_arrays() -> dict[str, np.ndarray]:
    """Arrays of a synthetic SMPL-X model file (see the module docstring)."""
    from smplx.vertex_ids import vertex_ids

    joints, hand_means = mannequin_rest_skeleton()
    radius = np.array([_RADIUS_M.get(n, 0.01) for n in SMPLX_JOINT_NAMES])
    parts_v, parts_f, owners = [], [], []
    equators: dict[int, np.ndarray] = {}
    count = 0

    def add(verts: np.ndarray, faces: np.ndarray, owner: int, centre_of: np.ndarray) -> int:
        nonlocal count
        parts_v.append(verts)
        parts_f.append(_orient_outward(verts, faces, centre_of) + count)
        owners.append(np.full(len(verts), owner))
        count += len(verts)
        return count - len(verts)

    for j in range(NUM_SMPLX_JOINTS):
        verts, faces, equator = _sphere(joints[j], radius[j])
        equators[j] = add(verts, faces, j, joints[j]) + equator
        p = SMPLX_PARENTS[j]
        if p >= 0:  # the bone parent → j turns with the parent
            verts, faces = _tube(joints[p], joints[j], min(radius[p], 0.9 * radius[j] + 0.1 * radius[p]),
                                 radius[j])
            add(verts, faces, p, verts.reshape(_TUBE_RINGS, _SEGMENTS, 3).mean(1).mean(0))
    for name, offset, end_radius in _LEAVES:
        j = SMPLX_JOINT_NAMES.index(name)
        verts, faces = _tube(joints[j], joints[j] + offset, radius[j], end_radius)
        add(verts, faces, j, verts.reshape(_TUBE_RINGS, _SEGMENTS, 3).mean(1).mean(0))

    mesh_v, mesh_f, mesh_owner = np.concatenate(parts_v), np.concatenate(parts_f), np.concatenate(owners)
    # the smplx package reads a few named vertices (nose, ears, toes, fingertips): keep those
    # indices free of mesh vertices and put a point at the right body part there instead
    named = vertex_ids["smplx"]
    reserved = np.array(sorted(named.values()))
    slots = np.setdiff1d(np.arange(SMPLX_NUM_VERTICES), reserved)
    if len(mesh_v) > len(slots):  # pragma: no cover - fixed geometry
        raise RuntimeError(f"synthetic mesh has {len(mesh_v)} vertices, room for {len(slots)}")
    v_template = np.repeat(joints[:1], SMPLX_NUM_VERTICES, 0)  # spare vertices sit at the pelvis
    owner = np.zeros(SMPLX_NUM_VERTICES, np.int64)
    v_template[slots[: len(mesh_v)]] = mesh_v
    owner[slots[: len(mesh_v)]] = mesh_owner
    for key, index in named.items():
        j, offset = _named_point(key)
        v_template[index] = joints[j] + offset
        owner[index] = j
    faces = slots[mesh_f]
    regressor = np.zeros((NUM_SMPLX_JOINTS, SMPLX_NUM_VERTICES))
    for j, ring in equators.items():
        regressor[j, slots[ring]] = 1.0 / len(ring)
    head_faces = np.flatnonzero(owner[faces[:, 0]] == SMPLX_JOINT_NAMES.index("head"))
    kintree = np.stack([np.array(SMPLX_PARENTS), np.arange(NUM_SMPLX_JOINTS)]).astype(np.int64)
    return {
        "v_template": v_template.astype(np.float32),
        "f": faces.astype(np.int32),
        "shapedirs": np.zeros((SMPLX_NUM_VERTICES, 3, _NUM_SHAPEDIRS), np.float32),
        "posedirs": np.zeros((SMPLX_NUM_VERTICES, 3, _NUM_POSEDIRS), np.float32),
        "J_regressor": regressor.astype(np.float32),
        "kintree_table": kintree,
        "weights": np.eye(NUM_SMPLX_JOINTS, dtype=np.float32)[owner],
        "hands_componentsl": np.eye(3 * NUM_HAND_JOINTS, dtype=np.float32),
        "hands_componentsr": np.eye(3 * NUM_HAND_JOINTS, dtype=np.float32),
        "hands_meanl": hand_means[0].astype(np.float32),
        "hands_meanr": hand_means[1].astype(np.float32),
        "lmk_faces_idx": head_faces[np.arange(51) % len(head_faces)].astype(np.int64),
        "lmk_bary_coords": np.full((51, 3), 1 / 3, np.float32),
        "dynamic_lmk_faces_idx": head_faces[np.arange(79 * 17) % len(head_faces)].reshape(79, 17),
        "dynamic_lmk_bary_coords": np.full((79, 17, 3), 1 / 3, np.float32),
    }


def _named_point(key: str) -> tuple[int, tuple[float, float, float]]:
    """(joint, offset in metres) where the smplx package's named vertex ``key`` belongs."""
    head, l_foot, r_foot, l_ankle, r_ankle = (SMPLX_JOINT_NAMES.index(n) for n in (
        "head", "left_foot", "right_foot", "left_ankle", "right_ankle"))
    fixed = {
        "nose": (head, (0.0, 0.08, 0.1)), "leye": (_LEFT_EYE, (0.0, 0.0, 0.012)),
        "reye": (_RIGHT_EYE, (0.0, 0.0, 0.012)), "lear": (head, (0.08, 0.07, 0.0)),
        "rear": (head, (-0.08, 0.07, 0.0)), "LBigToe": (l_foot, (0.02, -0.01, 0.07)),
        "LSmallToe": (l_foot, (0.06, -0.01, 0.05)), "LHeel": (l_ankle, (0.0, -0.07, -0.05)),
        "RBigToe": (r_foot, (-0.02, -0.01, 0.07)), "RSmallToe": (r_foot, (-0.06, -0.01, 0.05)),
        "RHeel": (r_ankle, (0.0, -0.07, -0.05)),
    }
    if key in fixed:
        return fixed[key]
    side, finger = ("left", key[1:]) if key[0] == "l" else ("right", key[1:])
    return SMPLX_JOINT_NAMES.index(f"{side}_{finger}3"), (0.02 if side == "left" else -0.02, 0.0, 0.0)


def write_synthetic_smplx(path: str | Path) -> Path:
    """Write a synthetic ``SMPLX_NEUTRAL.npz``-format file (about 0.4 MB) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **synthetic_smplx_arrays())
    return path
