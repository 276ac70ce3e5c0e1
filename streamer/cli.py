"""Command line: ``streamer run | demo | doctor | preview | batch | export | calibrate | blade``.

Exit codes: 0 done; 1 the stream broke mid-way (outputs keep every frame decoded
before the break) or some batch clips failed; 2 bad input, config or output
location (one line on stderr, nothing written); 130 interrupted (outputs
finalised).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamer import __version__
from streamer.errors import ConfigError, StreamerError

EXIT_USAGE = 2


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="CONFIG",
                        help="YAML config merged onto configs/default.yaml (a path, or a built-in "
                             "name: default, null)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. --set pipeline.window=16 (repeatable)")


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    _add_config_args(parser)
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--start", type=float, metavar="S", help="start at S seconds of stream time")
    parser.add_argument("--end", type=float, metavar="S", help="stop at S seconds of stream time")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), help="where model stages run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer", description="Soccer video in, per-player tracks and 3D motion out."
    )
    parser.add_argument("--version", action="version", version=f"streamer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="process one video, URL or camera:N into an output folder")
    run.add_argument("input", metavar="INPUT", help="video file, rtsp/http URL, or camera:N")
    run.add_argument("-o", "--out", metavar="OUT", help="output folder (default runs/<input stem>/)")
    _add_run_args(run)

    demo = sub.add_parser("demo", help="synthesise a short clip and run the main job on it")
    demo.add_argument("-o", "--out", metavar="OUT", default="runs/demo", help="output folder")
    demo.add_argument("--seconds", type=float, default=4.0, help="length of the synthetic clip")
    _add_run_args(demo)

    sub.add_parser("doctor", help="report versions, codecs, GPU, model backends and missing files")

    preview = sub.add_parser("preview", help="live overlay in a window or as MJPEG over HTTP")
    preview.add_argument("input", metavar="INPUT")
    preview.add_argument("--headless", action="store_true", help="serve MJPEG instead of a window")
    preview.add_argument("--port", type=int, default=8765, help="MJPEG port on 127.0.0.1")
    _add_config_args(preview)

    calibrate = sub.add_parser("calibrate", help="save a frame with a pixel grid and the pitch landmarks, "
                                                 "to pick manual calibration points")
    calibrate.add_argument("input", metavar="INPUT", help="video file or URL")
    calibrate.add_argument("-o", "--out", metavar="OUT", default="runs/calibrate", help="output folder")
    calibrate.add_argument("--frame", type=int, default=0, metavar="N", help="frame index (0-based, as in tracks.csv)")
    calibrate.add_argument("--grid", type=int, default=50, metavar="PX", help="grid spacing in pixels")
    _add_config_args(calibrate)

    export = sub.add_parser("export", help="convert a player's motion to other formats")
    export.add_argument("format", choices=("bvh",), help="output format")
    export.add_argument("player", metavar="PLAYER_NPZ", help="players/player_<id>.npz from a run")
    export.add_argument("-o", "--out", required=True, metavar="OUT", help="output file")
    export.add_argument("--body-model", choices=("smplx", "mannequin"),
                        help="skeleton source (default: the one the npz names)")
    export.add_argument("--smplx", metavar="NPZ", help="SMPLX_NEUTRAL.npz (default: $STREAMER_SMPLX)")

    blade = sub.add_parser("blade", help="BLADE checkpoint tools")
    blade_sub = blade.add_subparsers(dest="blade_command", required=True, metavar="ACTION")
    convert = blade_sub.add_parser("convert", help="epoch_2.pth -> safetensors (one-time, checked)")
    convert.add_argument("src", metavar="SRC", help="the official epoch_2.pth")
    convert.add_argument("dst", metavar="DST", help="output .safetensors")
    convert.add_argument("--allow-unsafe-pickle", action="store_true",
                         help="unpickle objects beyond the safe allow-list (only for a file you trust)")
    blade_sub.add_parser("check", help="check the configured checkpoint's keys and shapes")

    batch = sub.add_parser("batch", help="process many clips, one output folder each")
    batch.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="files, globs, or a .txt file listing paths/URLs")
    batch.add_argument("-o", "--out", required=True, metavar="OUT")
    batch.add_argument("--ray", metavar="ADDRESS", help="join this Ray cluster (default: local)")
    _add_run_args(batch)
    return parser


def _config_from_args(args: argparse.Namespace) -> dict:
    from streamer.config import load_config

    overrides = list(args.overrides)
    if getattr(args, "max_frames", None) is not None:
        if args.max_frames < 0:
            raise ConfigError("--max-frames must be >= 0")
        overrides.append(f"source.max_frames={args.max_frames}")
    if getattr(args, "start", None) is not None:
        overrides.append(f"source.start_s={args.start}")
    if getattr(args, "end", None) is not None:
        overrides.append(f"source.end_s={args.end}")
    if getattr(args, "device", None) is not None:
        overrides.append(f"pipeline.device={args.device}")
    return load_config(args.config, overrides)


def _summary(result) -> str:
    counts = result.report.get("counts", {})
    parts = [f"{counts.get('frames_processed', 0)} frames"]
    if "overlay_frames" in counts:
        parts.append(f"overlay.mp4 ({counts['overlay_frames']} frames)")
    if "tracks_csv_rows" in counts:
        parts.append(f"tracks.csv ({counts['tracks_csv_rows']} rows)")
    parts.append(f"{result.report.get('fps', 0):.1f} fps")
    return f"wrote {result.out_dir}/: " + ", ".join(parts)


def _run_one(input_uri: str, out: str | None, config: dict) -> int:
    from streamer.pipeline import Pipeline

    result = Pipeline(config).run(input_uri, out)
    if result.exit_code == 0:
        print(_summary(result))
    else:
        kept = result.report.get("counts", {}).get("frames_processed", 0)
        print(f"streamer: {result.error}; kept {kept} frames in {result.out_dir}/", file=sys.stderr)
    return result.exit_code


def cmd_run(args: argparse.Namespace) -> int:
    return _run_one(args.input, args.out, _config_from_args(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from streamer.demo import make_demo_clip

    config = _config_from_args(args)
    out = Path(args.out)
    from streamer.pipeline import prepare_output_dir

    prepare_output_dir(out)
    clip = make_demo_clip(out / "demo_input.mp4", seconds=args.seconds)
    print(f"synthesised {clip}")
    return _run_one(str(clip), str(out), config)


def cmd_doctor(args: argparse.Namespace) -> int:
    from streamer.doctor import main as doctor_main

    return doctor_main()


def cmd_preview(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile

    from streamer.io.preview import LatestFrame, MjpegServer, PreviewSink
    from streamer.io.source import parse_input
    from streamer.pipeline import Pipeline

    # live behaviour: newest frame first, files played at their own pace, nothing written
    preset = ["source.live=live", "outputs.overlay.enabled=false", "outputs.tracks_csv=false",
              "outputs.joints_csv=false", "outputs.players_npz=false", "progress=off"]
    if parse_input(args.input).kind == "file":
        preset.append("source.realtime=true")
    # stages that look into the future run causally: a live viewer must not wait for it
    preset += ["smooth.mode=forward", "soccer.causal=true"]
    args.overrides = preset + list(args.overrides)
    config = _config_from_args(args)
    view = config["preview"]
    skip = set(view["skip_stages"] or [])
    config["pipeline"]["stages"] = [s for s in config["pipeline"]["stages"] if s not in skip]
    keypoints = config["keypoints"]
    keypoints["min_box_height_px"] = max(float(keypoints["min_box_height_px"]), float(view["keypoints_min_height_px"]))
    headless = args.headless or not os.environ.get("DISPLAY")
    latest, server = (LatestFrame(), None) if headless else (None, None)
    if latest is not None:
        try:
            server = MjpegServer(latest, args.port).start()
        except OSError as exc:
            raise StreamerError(f"cannot serve the preview on 127.0.0.1:{args.port}: {exc.strerror}") from exc
        note = "" if args.headless else " (no display found)"
        print(f"preview{note}: http://127.0.0.1:{server.port}/", flush=True)
    sink = PreviewSink(latest, window=None if headless else "streamer preview",
                       jpeg_quality=int(view["jpeg_quality"]), max_height=int(view["max_height"]),
                       meshes=bool(view["meshes"]))
    scratch = tempfile.mkdtemp(prefix="streamer-preview-")
    try:
        result = Pipeline(config).run(args.input, scratch, extra_sinks=[sink])
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    if result.exit_code not in (0, 130):
        print(f"streamer: {result.error}", file=sys.stderr)
    return result.exit_code


def cmd_batch(args: argparse.Namespace) -> int:
    from streamer.batch import run_batch

    return run_batch(args.inputs, Path(args.out), _config_from_args(args), ray_address=args.ray)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from streamer.soccer.calib_tool import calibration_frame

    config = _config_from_args(args)
    cal = config["calibrate"]
    points = cal["manual_points"] if cal["manual_points"] and cal["manual_frame"] == args.frame else None
    written, snippet = calibration_frame(args.input, Path(args.out), args.frame, args.grid, config["source"], points)
    for path in written:
        print(f"wrote {path}")
    print(snippet)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from streamer.export import export_bvh

    out = export_bvh(args.player, args.out, body_model=args.body_model, smplx_path=args.smplx)
    print(f"wrote {out}")
    return 0


def cmd_blade(args: argparse.Namespace) -> int:
    if args.blade_command == "check":
        from streamer.doctor import check_blade

        result = check_blade()
        print(result.detail)
        return 0 if result.ok else 1
    from streamer.models.blade import convert_blade_checkpoint

    check = convert_blade_checkpoint(args.src, args.dst, allow_unsafe_pickle=args.allow_unsafe_pickle)
    print(f"wrote {args.dst}: {check.summary()}")
    return 0


COMMANDS = {"blade": cmd_blade, "run": cmd_run, "demo": cmd_demo, "doctor": cmd_doctor, "preview": cmd_preview,
            "batch": cmd_batch, "export": cmd_export, "calibrate": cmd_calibrate}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except StreamerError as exc:
        print(f"streamer: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("streamer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
