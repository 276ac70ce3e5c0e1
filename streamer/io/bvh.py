"""BVH export of a player's SMPL-X motion, and a reader used to check it.

Shape legend: ``T`` frames, ``J`` = 22 body joints (pelvis + the 21 ``body_pose`` joints).

Conventions of the file:

* skeleton: the SMPL-X body hierarchy (joint names as in the ``smplx`` package),
  offsets from the body model's rest joints for the player's ``betas``, in metres
  (Blender: import with scale 1.0);
* axes: Y up, right-handed. The player npz is in camera coordinates (x right,
  y down, z away from the camera); the export turns that by 180° about x, so the
  clip plays upright with the camera looking down −z, as Blender's BVH importer
  expects with its default "Y up, −Z forward";
* channels: the root has ``Xposition Yposition Zposition Zrotation Xrotation
  Yrotation``, every other joint ``Zrotation Xrotation Yrotation``, degrees; a
  joint's local rotation is ``Rz · Rx · Ry`` (the order the channels are listed);
* frame time: the clip's median frame interval from ``time_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from streamer.io.atomic import commit, partial_path

#: camera (x right, y down, z forward) → BVH world (x right, y up, z toward the viewer)
CAMERA_TO_WORLD = np.diag([1.0, -1.0, -1.0])
_EULER = "ZXY"  # scipy upper case = intrinsic: R = Rz @ Rx @ Ry


@dataclass(frozen=True, slots=True)
class BvhMotion:
    """A parsed BVH file."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray  # (J, 3)
    root_position: np.ndarray  # (T, 3)
    rotations: np.ndarray  # (T, J, 3, 3) local rotation matrices
    frame_time_s: float

    def joint_positions(self) -> np.ndarray:
        """(T, J, 3) world positions by forward kinematics."""
        t, j = self.rotations.shape[:2]
        world_rot = np.zeros((t, j, 3, 3))
        pos = np.zeros((t, j, 3))
        for k in range(j):
            p = self.parents[k]
            if p < 0:
                world_rot[:, k] = self.rotations[:, k]
                pos[:, k] = self.root_position
            else:
                world_rot[:, k] = world_rot[:, p] @ self.rotations[:, k]
                pos[:, k] = pos[:, p] + np.einsum("tij,j->ti", world_rot[:, p], self.offsets[k])
        return pos


def write_bvh(path: str | Path, names: tuple[str, ...], parents: tuple[int, ...], rest_joints: np.ndarray,
              global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray, frame_time_s: float) -> Path:
    """Write a BVH file (temp-then-rename).

    Args:
        names / parents: the J joints and their parent indices (-1 for the root), parents first.
        rest_joints: (J, 3) rest-pose joints of the body model for this player's shape.
        global_orient: (T, 3) root axis-angle, camera frame.
        body_pose: (T, 3·(J-1)) local axis-angle of the other joints (the player file's layout).
        transl: (T, 3) root translation, camera frame, metres.
    """
    n_joints = len(names)
    body_pose = np.asarray(body_pose, np.float64)
    if body_pose.shape != (len(global_orient), 3 * (n_joints - 1)):
        raise ValueError(f"body_pose: expected shape ({len(global_orient)}, {3 * (n_joints - 1)}), "
                         f"got {body_pose.shape}")
    body_pose = body_pose.reshape(len(global_orient), n_joints - 1, 3)
    rest = np.asarray(rest_joints, np.float64)
    offsets = np.array([rest[k] - rest[p] if p >= 0 else np.zeros(3) for k, p in enumerate(parents)])
    root_rot = CAMERA_TO_WORLD @ Rotation.from_rotvec(np.asarray(global_orient, np.float64)).as_matrix()
    local = Rotation.from_rotvec(body_pose.reshape(-1, 3)).as_matrix().reshape(-1, n_joints - 1, 3, 3)
    euler = np.concatenate([
        Rotation.from_matrix(root_rot).as_euler(_EULER, degrees=True)[:, None],
        Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler(_EULER, degrees=True).reshape(-1, n_joints - 1, 3),
    ], axis=1)
    root_pos = (np.asarray(transl, np.float64) + rest[0]) @ CAMERA_TO_WORLD.T
    children: dict[int, list[int]] = {k: [] for k in range(n_joints)}
    for k, p in enumerate(parents):
        if p >= 0:
            children[p].append(k)
    lines = ["HIERARCHY"]

    def emit(k: int, depth: int) -> None:
        pad = "  " * depth
        head = "ROOT" if parents[k] < 0 else "JOINT"
        lines.append(f"{pad}{head} {names[k]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offsets[k][0]:.6f} {offsets[k][1]:.6f} {offsets[k][2]:.6f}")
        if parents[k] < 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation")
        for c in children[k]:
            emit(c, depth + 1)
        if not children[k]:
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET 0.000000 0.000000 0.000000")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {len(global_orient)}", f"Frame Time: {frame_time_s:.6f}"]
    order = [k for k in _depth_first(children)]
    for t in range(len(global_orient)):
        values = list(root_pos[t]) + [v for k in order for v in euler[t, k]]
        lines.append(" ".join(f"{v:.6f}" for v in values))
    final = Path(path)
    temp = partial_path(final)
    temp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    commit(temp, final)
    return final


def _depth_first(children: dict[int, list[int]]) -> list[int]:
    order, stack = [], [0]
    while stack:
        k = stack.pop()
        order.append(k)
        stack.extend(reversed(children[k]))
    return order


def read_bvh(path: str | Path) -> BvhMotion:
    """Parse a BVH file written by :func:`write_bvh` (or any with these channel layouts)."""
    tokens = Path(path).read_text(encoding="utf-8").split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = 0
    pending_end = False
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            i += 2
        elif tok == "End":
            pending_end = True
            i += 2
        elif tok == "{":
            if pending_end:
                stack.append(-2)
                pending_end = False
            else:
                stack.append(len(names) - 1)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            if stack and stack[-1] != -2:
                offsets.append([float(x) for x in tokens[i + 1 : i + 4]])
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels.append(tokens[i + 2 : i + 2 + n])
            i += 2 + n
        else:
            i += 1
    n_frames = int(tokens[i + 2])
    frame_time = float(tokens[i + 5])
    values = np.array(tokens[i + 6 :], np.float64).reshape(n_frames, -1)
    rotations = np.zeros((n_frames, len(names), 3, 3))
    root_position = np.zeros((n_frames, 3))
    col = 0
    for k, chans in enumerate(channels):
        block = values[:, col : col + len(chans)]
        col += len(chans)
        pos_idx = [c for c, name in enumerate(chans) if name.endswith("position")]
        rot = [(c, name[0]) for c, name in enumerate(chans) if name.endswith("rotation")]
        if pos_idx:
            root_position = block[:, pos_idx]
        order = "".join(axis for _, axis in rot)
        rotations[:, k] = Rotation.from_euler(order.upper(), block[:, [c for c, _ in rot]], degrees=True).as_matrix()
    return BvhMotion(tuple(names), tuple(parents), np.array(offsets), root_position, rotations, frame_time)
