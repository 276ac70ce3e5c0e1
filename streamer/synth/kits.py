"""Team kits: which faces of a body are shirt, shorts, socks, boots, skin or hair, and their colours.

Shape legend: ``F`` faces of the body mesh.

Parts come from each face's driving joint (``BodyModel.vertex_body_joint``) and, for limbs,
from how far along the bone it sits in the rest pose: short sleeves cover the upper half of
the upper arm, shorts the upper half of the thigh, socks the shin below the knee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.body.model import BodyModel
from streamer.body.skeleton import BODY_JOINT_NAMES

SKIN, SHIRT, SHORTS, SOCKS, BOOTS, HAIR = range(6)
PART_NAMES = ("skin", "shirt", "shorts", "socks", "boots", "hair")

_J = {name: k for k, name in enumerate(BODY_JOINT_NAMES)}


@dataclass(frozen=True, slots=True)
class Kit:
    """Colours (RGB) of one team's outfit."""

    name: str
    shirt: tuple[int, int, int]
    shorts: tuple[int, int, int]
    socks: tuple[int, int, int]


#: kits chosen from; each reads clearly against grass
KITS = (
    Kit("white", (236, 236, 232), (30, 30, 34), (236, 236, 232)),
    Kit("lime", (176, 222, 60), (40, 120, 60), (176, 222, 60)),
    Kit("red", (200, 28, 36), (240, 240, 240), (200, 28, 36)),
    Kit("sky", (110, 170, 230), (245, 245, 245), (245, 245, 245)),
    Kit("navy", (28, 40, 96), (28, 40, 96), (235, 235, 235)),
    Kit("orange", (240, 120, 24), (20, 20, 20), (240, 120, 24)),
    Kit("yellow", (246, 216, 40), (24, 60, 140), (246, 216, 40)),
    Kit("maroon", (120, 24, 48), (120, 24, 48), (120, 24, 48)),
)
REFEREE_KITS = (
    Kit("referee-black", (18, 18, 20), (18, 18, 20), (18, 18, 20)),
    Kit("referee-pink", (236, 80, 160), (20, 20, 24), (236, 80, 160)),
    Kit("referee-teal", (30, 170, 170), (20, 20, 24), (30, 170, 170)),
)
SKIN_TONES = ((236, 196, 170), (214, 166, 130), (170, 120, 86), (120, 80, 56), (84, 56, 40))
HAIR_COLOURS = ((30, 22, 18), (70, 46, 30), (150, 110, 60), (20, 20, 20))
BOOT_COLOURS = ((20, 20, 22), (240, 240, 240), (230, 60, 40), (40, 100, 220), (240, 220, 40))


def _colour_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


def pick_kits(rng: np.random.Generator) -> tuple[Kit, Kit, Kit]:
    """Two team kits with clearly different shirts and a referee kit unlike both."""
    order = rng.permutation(len(KITS))
    home = KITS[order[0]]
    away = next(KITS[k] for k in order[1:] if _colour_distance(KITS[k].shirt, home.shirt) > 150)
    referees = [k for k in REFEREE_KITS if min(_colour_distance(k.shirt, home.shirt),
                                                 _colour_distance(k.shirt, away.shirt)) > 120]
    return home, away, referees[rng.integers(0, len(referees))]


def _along(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K,) position of points (K, 3) along the bone a → b: 0 at a, 1 at b."""
    bone = b - a
    return (points - a) @ bone / max(float(bone @ bone), 1e-12)


def face_parts(model: BodyModel) -> np.ndarray:
    """(F,) int part label (SKIN .. HAIR) of each face of ``model``'s mesh."""
    out = model(global_orient=np.zeros(3))
    vertices, joints = (a.astype(np.float64) for a in out.numpy())
    faces = model.faces
    centroid = vertices[faces].mean(1)
    owner = model.vertex_body_joint[faces[:, 0]]
    part = np.full(len(faces), SKIN)
    part[np.isin(owner, [_J[n] for n in ("spine1", "spine2", "spine3", "left_collar", "right_collar")])] = SHIRT
    pelvis = owner == _J["pelvis"]
    part[pelvis] = np.where(centroid[pelvis, 1] > joints[_J["pelvis"], 1] + 0.06, SHIRT, SHORTS)
    for side in ("left", "right"):
        for joint, child, label, lo, hi in (("hip", "knee", SHORTS, -1.0, 0.55), ("knee", "ankle", SOCKS, 0.2, 2.0),
                                            ("shoulder", "elbow", SHIRT, -1.0, 0.5)):
            mask = owner == _J[f"{side}_{joint}"]
            t = _along(centroid[mask], joints[_J[f"{side}_{joint}"]], joints[_J[f"{side}_{child}"]])
            part[mask] = np.where((t > lo) & (t < hi), label, SKIN)
        part[np.isin(owner, [_J[f"{side}_ankle"], _J[f"{side}_foot"]])] = BOOTS
    head = owner == _J["head"]
    rel = centroid[head] - joints[_J["head"]]
    part[head] = np.where((rel[:, 1] > 0.1) | ((rel[:, 2] < -0.03) & (rel[:, 1] > 0.0)), HAIR, SKIN)
    return part


def face_colours(parts: np.ndarray, kit: Kit, rng: np.random.Generator) -> np.ndarray:
    """(F, 3) uint8 colours of one player: the kit, a random skin tone, hair and boots."""
    palette = np.array([
        SKIN_TONES[rng.integers(0, len(SKIN_TONES))], kit.shirt, kit.shorts, kit.socks,
        BOOT_COLOURS[rng.integers(0, len(BOOT_COLOURS))], HAIR_COLOURS[rng.integers(0, len(HAIR_COLOURS))],
    ], np.float64)
    palette *= rng.uniform(0.94, 1.04)  # cloth and light differ a little from player to player
    return np.clip(palette[parts], 0, 255).astype(np.uint8)
