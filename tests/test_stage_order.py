"""Stage-order mistakes are found when the stages are built: exit 2, one line, nothing written."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streamer.cli import main
from streamer.config import load_config
from streamer.errors import ConfigError
from streamer.stages import check_order


def fake(reads=(), uses=(), fills=()):
    return SimpleNamespace(reads=tuple(reads), uses=tuple(uses), fills=tuple(fills))


def test_check_order_rules():
    det, trk = fake(fills=["detections"]), fake(reads=["detections"], fills=["tracks"])
    cal = fake(uses=["tracks"], fills=["calibration"])
    soc = fake(reads=["tracks"], uses=["calibration"], fills=["metrics"])
    check_order([("detect", det), ("track", trk), ("calibrate", cal), ("soccer", soc)])
    check_order([("detect", det), ("track", trk), ("soccer", soc)])  # uses: optional
    with pytest.raises(ConfigError, match="put 'detect' before 'track'"):
        check_order([("track", trk), ("detect", det)])
    with pytest.raises(ConfigError, match="'track' reads detections, which no stage before it fills"):
        check_order([("track", trk)])
    with pytest.raises(ConfigError, match="put 'calibrate' before 'soccer'"):
        check_order([("detect", det), ("track", trk), ("soccer", soc), ("calibrate", cal)])


def test_default_stages_are_in_order():
    # built for real: each stage declares what it reads and fills
    from streamer.pipeline import Pipeline

    config = load_config()
    assert config["pipeline"]["stages"][:2] == ["detect", "track"]
    source = SimpleNamespace(info=SimpleNamespace(fps=25.0, live=False))
    stages = Pipeline(config)._build_stages(source)
    assert [s.name for s in stages] == config["pipeline"]["stages"]


@pytest.mark.parametrize("stages, message", [
    ("[track,detect]", "put 'detect' before 'track'"),
    ("[detect,track,soccer,calibrate]", "put 'calibrate' before 'soccer'"),
    ("[detect,keypoints,track]", "put 'track' before 'keypoints'"),
    ("[detect,track,keypoints,smooth,mesh]", "put 'mesh' before 'smooth'"),
])
def test_wrong_order_is_exit_2_before_anything_is_written(clip, tmp_path, capsys, stages, message):
    out = tmp_path / "out"
    rc = main(["run", str(clip.path), "-o", str(out), "--set", f"pipeline.stages={stages}"])
    assert rc == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()
