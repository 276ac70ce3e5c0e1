"""Fit SMPL-X to one player in a still image and write the mesh overlaid on it (a visual check).

    python tools/mesh_fit_image.py ../shared/data/images/messi5.jpg --box 60 55 465 340 -o /tmp/fit.png

Runs the real keypoint stage (BlazePose) on the box, the mesh stage's fitter on its output,
and draws the fitted mesh (half transparent) and the keypoints (green: confident, red: not)
on the image. Prints the fitted parameters' summary and the share of confident keypoints
the mesh's silhouette covers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from streamer.body import BodyModel, load_body_model
from streamer.fitting import FitWeights, KeypointFitter
from streamer.fitting.camera import default_focal_px
from streamer.records import BodyParams, Frame, Keypoints, Packet, Tracks
from streamer.render.camera import intrinsics


def silhouette(body: BodyModel, params: BodyParams, K: np.ndarray, width: int, height: int,
               background: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool mask of the posed meshes and the (H, W, 3) shaded overlay on ``background``."""
    from streamer.render import MeshInstance, PinholeCamera, render_meshes

    vertices = body(params.betas, params.global_orient, params.body_pose, params.transl).vertices.numpy()
    camera = PinholeCamera(K, np.eye(3), np.zeros(3), width, height)
    meshes = [MeshInstance(v.astype(np.float64), body.faces, np.array([90, 160, 230], np.uint8), i + 1)
              for i, v in enumerate(vertices)]
    result = render_meshes(camera, meshes, background, alpha=0.6)
    return result.instance_id > 0, result.image


def keypoints_in_box(image: np.ndarray, box: np.ndarray) -> Keypoints:
    """The keypoints stage (BlazePose) on one box."""
    from streamer.stages.keypoints import KeypointsStage, build_backend

    section = {"backend": "blazepose", "threads": 0, "batch_size": 8, "crop_scale": 1.35,
               "blazepose": {"model": "", "refine_heatmap": True}}
    stage = KeypointsStage(build_backend(section, "cpu"))
    tracks = Tracks(np.array([1]), box[None].astype(np.float32), np.ones(1, np.float32))
    packet = Packet(Frame(0, 0, 0.0, image), tracks=tracks)
    return stage.process([packet])[0].keypoints


def main() -> None:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--box", type=float, nargs=4, required=True, metavar=("X1", "Y1", "X2", "Y2"))
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--body-model", default="auto")
    parser.add_argument("--iterations", type=int, default=FitWeights().iterations)
    args = parser.parse_args()
    bgr = cv2.imread(str(args.image))
    if bgr is None:
        sys.exit(f"cannot read {args.image}")
    image = np.ascontiguousarray(bgr[..., ::-1])
    height, width = image.shape[:2]
    keypoints = keypoints_in_box(image, np.array(args.box))
    body = load_body_model(args.body_model)
    K = intrinsics(default_focal_px(width), width, height)
    fitted = KeypointFitter(body, FitWeights(iterations=args.iterations)).fit([keypoints], [K], [0.0])[0]
    if fitted is None:
        sys.exit("no player could be fitted")
    mask, overlay = silhouette(body, fitted, K, width, height, image)
    confident = keypoints.conf[0] >= 0.5
    xy = np.round(keypoints.xy_px[0]).astype(int)
    inside = [mask[y, x] for x, y in xy[confident] if 0 <= x < width and 0 <= y < height]
    for (x, y), ok in zip(xy, confident, strict=True):
        cv2.circle(overlay, (int(x), int(y)), 3, (40, 220, 40) if ok else (230, 40, 40), -1)
    cv2.imwrite(str(args.output), overlay[..., ::-1])
    print(f"body model {body.name}; transl {np.round(fitted.transl[0], 2)} m; "
          f"joint_conf mean {fitted.joint_conf.mean():.2f}")
    print(f"confident keypoints inside the silhouette: {np.mean(inside):.0%} of {len(inside)}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
