"""Soccer on top of the tracks: pitch calibration, teams, positions, running metrics, angles, report.

Pure modules used by the ``calibrate`` and ``soccer`` stages (:mod:`streamer.stages`):

* :mod:`.pitch_model` — the 105 x 68 m line model and its landmarks (pitch frame: metres,
  origin at the centre spot, x along the touchlines, y toward the far touchline, z up);
* :mod:`.homography` — image <-> pitch homographies, propagation, the camera behind one;
* :mod:`.lines`, :mod:`.line_fit`, :mod:`.line_search` — white-line evidence, per-frame
  refinement, from-scratch search; :mod:`.calibrator` combines them with manual points;
* :mod:`.teams` — jersey colours, team colours, per-track votes;
* :mod:`.ground` — ground points and bodies on the pitch;
* :mod:`.kinematics` — speed, distance, sprints, accelerations from timestamps;
* :mod:`.angles` — knee / hip flexion and trunk lean from 3D joints;
* :mod:`.history`, :mod:`.report` — per-player series and the end-of-run report;
* :mod:`.overlay`, :mod:`.calib_tool` — drawing for ``overlay.mp4`` and ``streamer calibrate``.
"""
