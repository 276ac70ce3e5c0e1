"""Offline identity pass: link the tracklets of each shot into players (file runs only).

Shape legend: ``N`` tracks in a frame; ``K`` endpoint samples kept per tracklet end;
``D`` kit-histogram bins (:data:`streamer.tracking.appearance.DIM`).

The online tracker gives a new id whenever it loses a player for longer than
``track.max_age_s`` or confirms a fragment of him as a new track. After the stream this
module links those tracklets into players from per-tracklet summaries alone (memory
grows with the number of tracklets, never with frames):

* a **ground position** at each end: pitch metres when the frame is calibrated, else the
  box's bottom centre in the pixels of the shot's first frame (the camera motion the
  tracker measured undone), scaled to metres by the box height (a person is ~1.8 m);
* the **kit**: the mean torso histogram (:mod:`streamer.tracking.appearance`);
* the **team** votes of the soccer stage and the **body shape** (mean SMPL-X betas) when
  those stages run.

A link ``a → b`` needs the same shot, ``b`` starting after ``a`` ends (two tracklets that
overlap in time are never one player), a ground distance a player can cover in the gap
(``max_speed_mps``), no team conflict, and a kit and a body shape close enough. Its cost
is the distance from ``a``'s constant-velocity prediction in units of the distance a
player may stray from it, plus the kit distance. Links are made cheapest first, and only
when unambiguous: every *rival* — another tracklet that could continue ``a`` and lives
at the same time as ``b``, or another that ``b`` could continue and lives at the same
time as ``a`` — must cost ``margin`` more (``reentry_margin`` after a gap longer than
``reentry_gap_s``: a player back in view). A wrong link mixes two players' data; a
missed one only leaves two ids. The ends and starts still free after that are paired up
jointly (``joint``): the cheapest pairing of each group of competing tracklets, keeping a
link only when no pairing without it comes within ``joint_margin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from streamer.records import NUM_BETAS
from streamer.tracking.appearance import DIM

PERSON_HEIGHT_M = 1.8  # pixels per metre in image space = box height / this
_ENDPOINT_SAMPLES = 8  # samples kept at each end of a tracklet for its position and velocity
_JOINT_BLOCK = 32  # ends paired up together at most (a long clip's big group is split in time order)


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """The ``identity`` config section (meaning and units: ``configs/default.yaml``)."""

    enabled: bool = True
    max_gap_s: float = 30.0
    max_speed_mps: float = 10.0
    slack_m: float = 1.0
    stray_mps: float = 3.5
    kit_max: float = 0.45
    kit_weight: float = 4.0
    betas_max: float = 2.0
    height_ratio_max: float = 1.6
    margin: float = 1.0
    reentry_gap_s: float = 1.5
    reentry_margin: float = 0.25
    reentry_kit_max: float = 0.35
    joint: bool = True
    joint_max_cost: float = 1.5
    joint_margin: float = 0.15


@dataclass(slots=True)
class Tracklet:
    """What the pass knows of one online track: its ends, kit, team votes and shape."""

    track_id: int
    shot: int
    first_frame: int
    first_time: float
    last_frame: int = 0
    last_time: float = 0.0
    frames: int = 0
    # endpoint samples: (time, image x, image y, px per metre, pitch x, pitch y); image: the
    # foot point in the pixels of the shot's first frame; pitch: metres, NaN when uncalibrated
    head: list[tuple[float, ...]] = field(default_factory=list)
    tail: list[tuple[float, ...]] = field(default_factory=list)
    kit_sum: np.ndarray = field(default_factory=lambda: np.zeros(DIM, np.float64))
    kit_n: int = 0
    team_votes: dict[int, int] = field(default_factory=dict)
    betas_sum: np.ndarray | None = None
    betas_n: int = 0

    @property
    def kit(self) -> np.ndarray:
        return (self.kit_sum / self.kit_sum.sum()) if self.kit_n and self.kit_sum.sum() > 0 else np.zeros(DIM)

    @property
    def team(self) -> int:
        """The most voted team code (>= 0), or -1."""
        votes = {k: v for k, v in self.team_votes.items() if k >= 0}
        return max(votes, key=votes.__getitem__) if votes else -1

    @property
    def betas(self) -> np.ndarray | None:
        return None if self.betas_sum is None or not self.betas_n else self.betas_sum / self.betas_n


def _end_state(samples: list[tuple[float, ...]], at_end: bool, metric: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Position (2,) at the end, velocity (2,) per second, and units per metre (1 on the pitch).

    ``samples``: rows (time, image x, image y, px per metre, pitch x, pitch y); ``metric`` uses
    the pitch columns (rows without them left out), else the image ones.
    """
    arr = np.array(samples, np.float64)
    if metric:
        arr = arr[np.isfinite(arr[:, 4:6]).all(axis=1)]
        t, xy, scale = arr[:, 0], arr[:, 4:6], 1.0
    else:
        t, xy, scale = arr[:, 0], arr[:, 1:3], float(np.median(arr[:, 3]))
    pos = xy[-1] if at_end else xy[0]
    vel = np.zeros(2)
    if len(arr) >= 3 and t[-1] - t[0] > 1e-6:
        a = np.polyfit(t - t.mean(), xy, 1)  # (2, 2): slope row, intercept row
        vel = a[0]
        pos = a[1] + a[0] * ((t[-1] if at_end else t[0]) - t.mean())
    return pos, vel, scale


def _has_pitch(samples: list[tuple[float, ...]]) -> bool:
    return sum(np.isfinite(s[4]) for s in samples) >= 1


class TrackletCollector:
    """Per-tracklet summaries from the tracks of each frame, in frame order.

    ``observe`` takes one frame's tracks (only boxes actually measured — score > 0 — count
    toward positions and kit), with what is known about them.
    """

    def __init__(self) -> None:
        self.tracklets: dict[int, Tracklet] = {}
        self._shot: int | None = None
        self._to_ref = np.eye(3)  # this frame's pixels -> the shot's first frame's pixels

    def observe(self, frame_index: int, time_s: float, track_ids: np.ndarray, boxes: np.ndarray,
                scores: np.ndarray, *, shot: int = 0, camera_motion: np.ndarray | None = None,
                hists: np.ndarray | None = None, pitch_xy: np.ndarray | None = None,
                teams: np.ndarray | None = None, betas: dict[int, np.ndarray] | None = None) -> None:
        """One frame: ``boxes`` (N, 4) px, ``scores`` (N,), ``camera_motion`` (2, 3) previous → this
        frame's pixels, ``hists`` (N, D), ``pitch_xy`` (N, 2) metres (NaN = uncalibrated),
        ``teams`` (N,) team codes, ``betas`` per track id."""
        if shot != self._shot:
            self._shot, self._to_ref = shot, np.eye(3)
        elif camera_motion is not None:
            m = np.vstack([np.asarray(camera_motion, np.float64), [0.0, 0.0, 1.0]])
            try:
                self._to_ref = self._to_ref @ np.linalg.inv(m)
            except np.linalg.LinAlgError:
                pass
        boxes = np.asarray(boxes, np.float64)
        foot = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3], np.ones(len(boxes))]) @ self._to_ref.T
        zoom = float(np.sqrt(abs(np.linalg.det(self._to_ref[:2, :2]))))
        for i, tid in enumerate(int(t) for t in track_ids):
            tr = self.tracklets.get(tid)
            if tr is None:
                tr = self.tracklets[tid] = Tracklet(tid, shot, frame_index, time_s)
            tr.last_frame, tr.last_time = frame_index, time_s
            tr.frames += 1
            if teams is not None and teams[i] >= 0:
                tr.team_votes[int(teams[i])] = tr.team_votes.get(int(teams[i]), 0) + 1
            if betas is not None and tid in betas:
                b = np.asarray(betas[tid], np.float64)
                tr.betas_sum = b.copy() if tr.betas_sum is None else tr.betas_sum + b
                tr.betas_n += 1
            if scores[i] <= 0:
                continue  # a coasted prediction, not a measurement
            if hists is not None and hists[i].sum() > 0:
                tr.kit_sum += hists[i]
                tr.kit_n += 1
            height = max(boxes[i, 3] - boxes[i, 1], 1.0) * zoom
            px, py = (float(v) for v in pitch_xy[i]) if pitch_xy is not None else (np.nan, np.nan)
            sample = (time_s, float(foot[i, 0]), float(foot[i, 1]), height / PERSON_HEIGHT_M, px, py)
            if len(tr.head) < _ENDPOINT_SAMPLES:
                tr.head.append(sample)
            tr.tail.append(sample)
            if len(tr.tail) > _ENDPOINT_SAMPLES:
                del tr.tail[0]


@dataclass(frozen=True, slots=True)
class Link:
    """One link the pass made: ``after`` continues ``before``."""

    before: int
    after: int
    gap_s: float
    cost: float


class _Table:
    """The tracklets' end states as arrays (one row per tracklet), for vectorised link costs."""

    def __init__(self, items: list[Tracklet]) -> None:
        n = len(items)
        nan2 = np.full((n, 2), np.nan)
        self.ok = np.array([bool(t.head and t.tail) for t in items], bool)
        self.shot = np.array([t.shot for t in items], np.int64)
        self.first_frame = np.array([t.first_frame for t in items], np.int64)
        self.last_frame = np.array([t.last_frame for t in items], np.int64)
        self.first_time = np.array([t.first_time for t in items], np.float64)
        self.last_time = np.array([t.last_time for t in items], np.float64)
        self.team = np.array([t.team for t in items], np.int64)
        self.tail_img, self.tail_vel, self.head_img = nan2.copy(), np.zeros((n, 2)), nan2.copy()
        self.tail_pitch, self.tail_pitch_vel, self.head_pitch = nan2.copy(), np.zeros((n, 2)), nan2.copy()
        self.tail_scale, self.head_scale = np.ones(n), np.ones(n)
        self.kit = np.zeros((n, DIM))  # sqrt of the normalised histogram; zeros = no kit
        self.betas = np.full((n, NUM_BETAS), np.nan)
        for k, t in enumerate(items):
            if not self.ok[k]:
                continue
            self.tail_img[k], self.tail_vel[k], self.tail_scale[k] = _end_state(t.tail, True, False)
            self.head_img[k], _, self.head_scale[k] = _end_state(t.head, False, False)
            if _has_pitch(t.tail):
                self.tail_pitch[k], self.tail_pitch_vel[k], _ = _end_state(t.tail, True, True)
            if _has_pitch(t.head):
                self.head_pitch[k] = _end_state(t.head, False, True)[0]
            if t.kit_n and t.kit.sum() > 0:
                self.kit[k] = np.sqrt(t.kit)
            betas = t.betas
            if betas is not None and len(betas) == self.betas.shape[1]:
                self.betas[k] = betas
        self.has_kit = self.kit.sum(axis=1) > 0

    def costs(self, i: int, js: np.ndarray, cfg: IdentityConfig) -> np.ndarray:
        """Costs of each tracklet ``js`` continuing tracklet ``i`` (inf where impossible)."""
        gap = self.first_time[js] - self.last_time[i]
        bad = (~self.ok[js] | ~self.ok[i] | (self.shot[js] != self.shot[i])
               | (self.first_frame[js] <= self.last_frame[i]) | (gap <= 0) | (gap > cfg.max_gap_s))
        bad |= (self.team[i] >= 0) & (self.team[js] >= 0) & (self.team[js] != self.team[i])
        sa, sb = self.tail_scale[i], self.head_scale[js]
        # about the same spot moments later: the box cannot change size that much
        bad |= (np.maximum(sa, sb) > cfg.height_ratio_max * np.minimum(sa, sb)) & (gap < 2 * cfg.reentry_gap_s)
        # pitch metres when both ends have them, else reference pixels scaled by the box height
        metric = np.isfinite(self.tail_pitch[i]).all() & np.isfinite(self.head_pitch[js]).all(axis=1)
        pa = np.where(metric[:, None], self.tail_pitch[i], self.tail_img[i])
        va = np.where(metric[:, None], self.tail_pitch_vel[i], self.tail_vel[i])
        pb = np.where(metric[:, None], self.head_pitch[js], self.head_img[js])
        scale = np.where(metric, 1.0, 0.5 * (sa + sb))
        jump = np.linalg.norm(pb - pa, axis=1) / scale
        bad |= jump > cfg.slack_m + cfg.max_speed_mps * gap
        lead = np.minimum(gap, 0.5)[:, None]  # velocity is trusted for half a second, then he may turn
        miss = np.linalg.norm(pb - (pa + va * lead), axis=1) / scale
        motion = miss / (cfg.slack_m + cfg.stray_mps * np.maximum(gap, 0.0))
        both = self.has_kit[i] & self.has_kit[js]
        kit = np.where(both, np.sqrt(np.clip(1.0 - self.kit[js] @ self.kit[i], 0.0, 1.0)), 0.0)
        reentry = gap > cfg.reentry_gap_s
        bad |= both & (kit > np.where(reentry, cfg.reentry_kit_max, cfg.kit_max))
        bad |= ~both & reentry  # a re-entry needs the kit to agree
        shape = np.linalg.norm(self.betas[js] - self.betas[i], axis=1) / np.sqrt(self.betas.shape[1])
        bad |= np.isfinite(shape) & (shape > cfg.betas_max)
        with np.errstate(invalid="ignore"):
            return np.where(bad, np.inf, motion + cfg.kit_weight * kit)


def _overlap(x: Tracklet, y: Tracklet) -> bool:
    return x.first_frame <= y.last_frame and y.first_frame <= x.last_frame


def _rival(candidates: list[tuple[int, float]], chosen: int, below: float, items: list[Tracklet]) -> bool:
    """Whether a candidate other than ``chosen``, costing less than ``below``, lives when it does."""
    for k, cost in candidates:  # cheapest first
        if cost >= below:
            return False
        if k != chosen and _overlap(items[k], items[chosen]):
            return True
    return False


def link_tracklets(tracklets: list[Tracklet], cfg: IdentityConfig | None = None) -> tuple[dict[int, int], list[Link]]:
    """Final player id (1, 2, ... in order of first appearance) of every tracklet, and the links made.

    Candidates are only looked for among tracklets starting within ``max_gap_s`` of one's end, so a
    long match costs about (tracklets × tracklets per ``max_gap_s``), not tracklets².
    """
    cfg = cfg or IdentityConfig()
    items = sorted(tracklets, key=lambda t: (t.first_time, t.track_id))
    n = len(items)
    table = _Table(items)
    starts = table.first_time
    succ: dict[int, dict[int, float]] = {}  # i -> {j: cost of j continuing i}
    pred: dict[int, dict[int, float]] = {}
    for i, a in enumerate(items):
        lo = int(np.searchsorted(starts, a.last_time, side="left"))
        hi = int(np.searchsorted(starts, a.last_time + cfg.max_gap_s, side="right"))
        js = np.arange(lo, hi)
        if not len(js):
            continue
        costs = table.costs(i, js, cfg)
        for j, c in zip(js[np.isfinite(costs)].tolist(), costs[np.isfinite(costs)].tolist(), strict=True):
            succ.setdefault(i, {})[j] = c
            pred.setdefault(j, {})[i] = c

    def gap(i: int, j: int) -> float:
        return items[j].first_time - items[i].last_time

    succ_sorted = {i: sorted(row.items(), key=lambda kv: kv[1]) for i, row in succ.items()}
    pred_sorted = {j: sorted(row.items(), key=lambda kv: kv[1]) for j, row in pred.items()}
    order = sorted(((i, j, c) for i, row in succ.items() for j, c in row.items()),
                   key=lambda p: (gap(p[0], p[1]) > cfg.reentry_gap_s, p[2]))
    nxt, prev = np.full(n, -1), np.full(n, -1)
    links: list[Link] = []
    for i, j, c in order:
        if nxt[i] >= 0 or prev[j] >= 0:
            continue
        margin = cfg.reentry_margin if gap(i, j) > cfg.reentry_gap_s else cfg.margin
        # rivals: another continuation of i living when j does, another origin of j living when i does
        if _rival(succ_sorted[i], j, c + margin, items) or _rival(pred_sorted[j], i, c + margin, items):
            continue
        nxt[i], prev[j] = j, i
        links.append(Link(items[i].track_id, items[j].track_id, float(gap(i, j)), float(c)))
    if cfg.joint:
        for i, j, c in _joint_links(succ, nxt, prev, table.last_time, cfg):
            nxt[i], prev[j] = j, i
            links.append(Link(items[i].track_id, items[j].track_id, float(gap(i, j)), float(c)))
    final: dict[int, int] = {}
    next_id = 1
    for k in range(n):  # chain heads come in order of first appearance
        if prev[k] >= 0:
            continue
        m = k
        while m >= 0:
            final[items[m].track_id] = next_id
            m = nxt[m]
        next_id += 1
    return final, links


def _assignment_total(cost: np.ndarray, no_link: float) -> tuple[float, list[tuple[int, int]]]:
    """Cheapest set of links in ``cost`` (R, C) (inf = impossible), leaving a row or a column
    unlinked at ``no_link`` / 2 each: the total and the (row, col) links."""
    r, c = cost.shape
    big = 1e6
    m = np.full((r + c, c + r), big)
    m[:r, :c] = np.where(np.isfinite(cost), cost, big)
    m[np.arange(r), c + np.arange(r)] = no_link / 2  # row r unlinked
    m[r + np.arange(c), np.arange(c)] = no_link / 2  # column c unlinked
    m[r:, c:] = 0.0
    rows, cols = linear_sum_assignment(m)
    pairs = [(a, b) for a, b in zip(rows.tolist(), cols.tolist(), strict=True)
             if a < r and b < c and m[a, b] < big]
    return float(m[rows, cols].sum()), pairs


def _joint_links(succ: dict[int, dict[int, float]], nxt: np.ndarray, prev: np.ndarray,
                 end_time: np.ndarray, cfg: IdentityConfig) -> list[tuple[int, int, float]]:
    """Links among the ends and starts the one-by-one pass left free, chosen together.

    When several players leave the view and come back, each return may have a rival of
    about the same cost, yet only one way of pairing them all up is cheap (the rivals are
    taken by their own players). The cheapest pairing is found per group of tracklets that
    compete (a connected component of the candidate links), and a link of it is kept only
    if the cheapest pairing *without* it costs ``joint_margin`` more: a link that another
    pairing could replace almost as cheaply is not made. A big group (a long clip's
    tracklets chained by candidates) is solved in blocks of ``_JOINT_BLOCK`` ends in time
    order, so time and memory grow with the clip's length, not its square.
    """
    pairs = [(i, j, c) for i, row in succ.items() if nxt[i] < 0
             for j, c in row.items() if prev[j] < 0 and c < cfg.joint_max_cost]
    if not pairs:
        return []
    # connected components of the bipartite candidate graph (ends: i, starts: ~j)
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(x: tuple[int, int]) -> tuple[int, int]:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        parent[find((0, i))] = find((1, j))
    groups: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
    for p in pairs:
        groups.setdefault(find((0, p[0])), []).append(p)
    out = []
    for group in groups.values():
        ends = sorted({i for i, _, _ in group}, key=lambda i: end_time[i])
        taken: set[int] = set()
        for at in range(0, len(ends), _JOINT_BLOCK):
            block = set(ends[at:at + _JOINT_BLOCK])
            out += _robust_pairs([p for p in group if p[0] in block and p[1] not in taken], cfg)
            taken |= {j for _, j, _ in out}
    return out


def _robust_pairs(pairs: list[tuple[int, int, float]], cfg: IdentityConfig) -> list[tuple[int, int, float]]:
    """The links of the cheapest pairing of ``pairs`` that no other pairing nearly matches."""
    if not pairs:
        return []
    ends = sorted({i for i, _, _ in pairs})
    starts = sorted({j for _, j, _ in pairs})
    row = {i: k for k, i in enumerate(ends)}
    col = {j: k for k, j in enumerate(starts)}
    cost = np.full((len(ends), len(starts)), np.inf)
    for i, j, c in pairs:
        cost[row[i], col[j]] = c
    total, chosen = _assignment_total(cost, cfg.joint_max_cost)
    out = []
    for a, b in chosen:
        without = cost.copy()
        without[a, b] = np.inf
        if _assignment_total(without, cfg.joint_max_cost)[0] - total >= cfg.joint_margin:
            out.append((ends[a], starts[b], float(cost[a, b])))
    return out
