"""Task success read from a 4D frame: world pointmap + robot mask + the robot state the env knows.

These detectors never look at the simulator. ``Kinema4D-v0`` feeds them generated frames; on
ground-truth frames they are validated against the simulator's own predicate
(``benchmarks.env_speed`` → ``detector_agreement``).

A frame here: ``rgb`` (H, W, 3) uint8, ``pointmap`` (H, W, 3) float32 camera frame metres, ``valid`` (H, W) bool,
``robot_mask`` (H, W) bool, ``T_world_cam`` (4, 4), ``finger_m`` each finger's opening (metres),
``tcp_world`` (3,) the commanded tool-centre point, world frame.

Status: ``lift`` reads the cube's absence from where it rested, in colour, against the episode's
initial frame (``lift_success``). Its settings were chosen on ground truth *and* on rollouts of the
shipped model (benchmarks/results/trials/lift_detector_gen): on the 200 ground-truth calibration
episodes of data/lift_eval + data/lift_detect its episode agreement is 1.000, on the 200 of data/lift_detect2 +
data/lift_detect3 0.995. The rule before it (no XYZ point in the band a resting cube fills) scored
0.98 / 0.99 there, but never fired on generated frames, not even on an oracle rollout of the true latents:
the VAE's XYZ smear fills the band.
``stack`` reads colour the same way: cube A gone from its spot, then A-coloured pixels on cube B or the
TCP releasing over B, fingers open (``stack_success``). Chosen on 230 ground-truth episodes (eval seeds
10000-10045): 0.985 / 0.98; held out on 200 (seeds 10046-10085): 0.95 (the XYZ rule before it: 0.91). Its
errors are releases 1-6 cm off B's centre, where A leans on B's edge or slides off for a few frames.
``pick_place_can`` compares with the episode's initial frame (its compartment shows
walls and robosuite's visual goal marker, which never move): thresholds chosen on 200 ground-truth
episodes (eval seeds 10000-10039): 0.995; validated on 50 fresh ones (seeds 10040-10049): 1.0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_dilation


@dataclass(frozen=True)
class DetectorConfig:
    table_z_m: float = 0.8                    # table-top height, world frame
    table_half_xy_m: tuple[float, float] = (0.4, 0.4)
    table_center_xy_m: tuple[float, float] = (0.0, 0.0)
    robot_dilate_px: int = 1                  # robot-mask margin: edge pixels mix robot and scene
    min_points: int = 3                       # object points needed before anything is decided
    top_quantile: float = 0.9                 # robust "top of the object" (ignores stray pixels)
    resting_band_m: tuple[float, float] = (0.006, 0.025)   # heights only a cube *resting* on the table fills
    # lift: the cube's colour mass left near where it rested (see lift_success). Chosen on ground truth
    # AND on generated rollouts of the shipped model (benchmarks/results/trials/lift_detector_gen)
    lift_window_px: int = 6                   # search window around the initial cube pixels
    lift_robot_margin_px: int = 2             # pixels this close to the robot are not read (arm smear)
    lift_low_m: float = 0.06                  # only points this low count as "on the table"
    lift_mass_frac: float = 0.2               # lifted: at most this share of the initial cube mass left
    lift_min_chroma_contrast: float = 0.05    # below it (cube ~ table colour) the XYZ rule decides alone
    max_resting_points: int = 0               # the XYZ rule: scene points allowed in the resting band
    lift_tcp_min_m: float = 0.05              # commanded TCP this far above the table (calibrated)
    # stack: cube A (the smaller cube; robosuite's A is 4 cm, B 5 cm) has left its spot in the initial
    # frame and now sits on B, or is being released onto B, with stack's own released_finger_m and
    # min_consecutive_frames (TASK_DETECTOR_FIELDS). Chosen on 230 ground-truth episodes (eval seeds
    # 10000-10045), validated on 200 others (benchmarks/results/trials/stack_detector).
    stack_object_max_m: float = 0.06          # initial frame: cube pixels lie below this (B's top: 5 cm)
    stack_min_saturation: float = 0.04        # initial frame: a cube pixel's chroma spread (table and wall are grey)
    stack_b_top_face_m: float = 0.035         # initial frame: B's pixels above this are its top face
    stack_picked_mass_frac: float = 0.3       # A picked up: at most this share of its colour mass left at its spot
    stack_on_b_radius_m: float = 0.04         # A's pixels, or the releasing TCP, this close to B's centre (xy)
    stack_a_share: float = 0.5                # a pixel is A's when at least this A-coloured (0 table .. 1 A)
    stack_a_min_pixels: int = 1
    stack_a_min_m: float = 0.055              # A's pixels on B lie above B's top (5 cm) ...
    stack_top_max_m: float = 0.11             # ... and below this
    stack_release_tcp_m: tuple[float, float] = (0.03, 0.12)   # TCP height over the table releasing A onto B
    stack_top_min_m: float = 0.065            # the XYZ fallback (cubes the table's colour): top in this band
    released_finger_m: float = 0.025          # fingers this open: the gripper no longer holds
    # pick-place: the target compartment (x0, x1, y0, y1) and what counts as placed in it
    target_box_xy_m: tuple[float, float, float, float] | None = None
    target_search_margin_m: float = 0.06     # the object is looked for this far around the compartment
    # Chosen on 200 ground-truth episodes (eval seeds 10000-10039; a grid over rise 1/1.5 cm, 2-5
    # points, top 10/10.5/11 cm, 2-4 frames): 0.995. A first rule chosen on seeds 10000-10009 alone
    # (4 points, top 11 cm) scored 1.0 there but 0.967 on seeds 10010-10039: the arm hovering over the
    # placed can leaves only 2-3 of its pixels visible at 64 px. Top 10.5 cm: a resting can's top reads
    # <= 9.9 cm, one leaning on the divider 10.5-11.9 cm.
    placed_rise_m: float = 0.01               # above what the initial frame saw at that pixel
    in_bin_max_height_m: float = 0.105        # no higher than this above the table: resting, not carried
    placed_min_points: int = 2
    # Episode success needs this many detected frames in a row (the arm can hide the cube for a few
    # frames). On the 200 calibration episodes, 1/2/3/4 frames gave 0.960/0.975/0.980/0.985: 3 is the
    # smallest meeting the 0.98 goal; on 200 fresh episodes it gives 0.99.
    min_consecutive_frames: int = 3


# Per-task values over the DetectorConfig defaults (lift's calibration). The pick-place compartment is
# robosuite PickPlace's accepted region for the can (bin2 at (0.1, 0.28, 0.8), bin 0.39 x 0.49 m, the
# can's quadrant: +x, +y of the bin centre).
TASK_DETECTOR_FIELDS: dict[str, dict] = {
    "lift": {},
    "stack": {"released_finger_m": 0.015, "min_consecutive_frames": 2},
    "pick_place_can": {"target_box_xy_m": (0.1, 0.295, 0.28, 0.525)},
}


def detector_config(task: str, **overrides) -> DetectorConfig:
    """The task's detector settings (``TASK_DETECTOR_FIELDS`` over the defaults), then ``overrides``."""
    _check_task(task)
    return DetectorConfig(**{**TASK_DETECTOR_FIELDS[task], **overrides})


def scene_points(frame: dict, cfg: DetectorConfig) -> np.ndarray:
    """(N, 3) world-frame points of the scene above the table top, robot pixels excluded."""
    p = world_points(frame)[frame["valid"] & ~_robot(frame, cfg)]
    return p[_over_table(p, cfg) & (p[:, 2] > cfg.table_z_m)]


def object_top_m(frame: dict, cfg: DetectorConfig) -> float:
    """Robust height of the highest scene object above the table (0 when nothing stands on it)."""
    p = scene_points(frame, cfg)
    if len(p) < cfg.min_points:
        return 0.0
    return float(np.quantile(p[:, 2], cfg.top_quantile) - cfg.table_z_m)


def lift_success(frame: dict, cfg: DetectorConfig, reference: dict | None = None,
                 memory: dict | None = None) -> bool:
    """The cube has left the spot where it rested while the closed gripper is up.

    From the task camera the held cube hides behind the fingers, so the rule reads its *absence*: the
    cube-coloured mass (chroma, robust to shadows and to a blurred, generated cube) left in a window
    around the cube's pixels of the initial frame, on the table and away from the robot, has fallen
    below ``lift_mass_frac`` of what the initial frame shows there. A cube pushed aside stays in the
    window; a lifted one is gone from it."""
    if reference is None:
        raise ValueError("lift detection compares against the episode's initial frame: pass reference=")
    if "rgb" not in frame or "rgb" not in reference:
        raise ValueError("lift detection reads colour: the frame and the reference need an 'rgb' (H, W, 3) uint8")
    tcp_up = frame["tcp_world"][2] - cfg.table_z_m > cfg.lift_tcp_min_m
    holding = frame["finger_m"] < cfg.released_finger_m      # an open gripper lifts nothing
    if not (tcp_up and holding):
        return False
    window, table_c, cube_c = _cached(memory, "lift_cube", lambda: _resting_cube(reference, cfg))
    if np.linalg.norm(cube_c - table_c) < cfg.lift_min_chroma_contrast:
        return _no_cube_resting(frame, cfg)     # colour cannot tell cube from table: read XYZ alone
    left = _mass_left(frame, reference, window, table_c, cube_c, cfg)
    return left is not None and left <= cfg.lift_mass_frac


def _cached(memory: dict | None, key: str, make):
    """Per-episode analysis of the reference frame, kept in the tracker's memory when there is one."""
    if memory is None:
        return make()
    if key not in memory:
        memory[key] = make()
    return memory[key]


def _mass_left(frame: dict, reference: dict, window: np.ndarray, table_c: np.ndarray, cube_c: np.ndarray,
               cfg: DetectorConfig) -> float | None:
    """Share of the reference's cube-coloured mass in ``window`` still there, compared on the pixels
    visible now (the arm hiding the cube's spot is not the cube leaving it); None when too little of
    the spot is visible to tell."""
    now, seen = _cube_share(frame, window, table_c, cube_c, cfg)
    then = np.clip(_colour_share(reference["rgb"], table_c, cube_c), 0.0, 1.0)
    visible_then = float(then[seen].sum())
    return float(now[seen].sum()) / visible_then if visible_then >= cfg.min_points else None


def _no_cube_resting(frame: dict, cfg: DetectorConfig) -> bool:
    """The XYZ rule (the lift rule before the colour one): no scene point in the band a resting cube fills."""
    h = scene_points(frame, cfg)[:, 2] - cfg.table_z_m
    lo, hi = cfg.resting_band_m
    return int(((h > lo) & (h < hi)).sum()) <= cfg.max_resting_points


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 -> (..., 3) colour with brightness divided out (shadows keep their chroma)."""
    x = rgb.astype(np.float32) + 1.0
    return x / x.sum(-1, keepdims=True)


def _resting_cube(reference: dict, cfg: DetectorConfig):
    """From the initial frame: the window searched around the cube's pixels (resting band, off the
    robot), and the table's and the cube's chroma (3,)."""
    p = world_points(reference)
    h = p[..., 2] - cfg.table_z_m
    lo, hi = cfg.resting_band_m
    free = reference["valid"] & ~_robot(reference, cfg)
    cube = free & (h > lo) & (h < hi) & _over_table(p, cfg)
    window = binary_dilation(cube, iterations=cfg.lift_window_px)
    ring = free & window & ~binary_dilation(cube, iterations=1)
    c = _chroma(reference["rgb"])
    cube_c = np.median(c[cube], 0) if cube.any() else np.zeros(3, np.float32)
    table_c = np.median(c[ring], 0) if ring.any() else cube_c
    return window, table_c, cube_c


def _colour_share(rgb: np.ndarray, table_c: np.ndarray, cube_c: np.ndarray) -> np.ndarray:
    """(H, W) how cube-coloured each pixel is: its chroma projected on table -> cube (0 table, 1 cube;
    not clipped)."""
    d = cube_c - table_c
    return (_chroma(rgb) - table_c) @ d / max(float(d @ d), 1e-8)


def _cube_share(frame: dict, window: np.ndarray, table_c: np.ndarray, cube_c: np.ndarray,
                cfg: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) how cube-coloured each pixel is, clipped to 0..1 (its sum over a region is about the
    number of cube pixels there, also when generation blurs the cube), and (H, W) bool the window's
    table pixels away from the robot, where it is read."""
    a = np.clip(_colour_share(frame["rgb"], table_c, cube_c), 0.0, 1.0)
    p = world_points(frame)
    near_robot = binary_dilation(frame["robot_mask"], iterations=cfg.lift_robot_margin_px)
    low = p[..., 2] - cfg.table_z_m < cfg.lift_low_m
    return a, window & frame["valid"] & ~near_robot & low & _over_table(p, cfg)


def _over_table(p: np.ndarray, cfg: DetectorConfig) -> np.ndarray:
    """(...) bool: world points (..., 3) whose x, y lie over the table top."""
    cx, cy = cfg.table_center_xy_m
    hx, hy = cfg.table_half_xy_m
    return (np.abs(p[..., 0] - cx) < hx) & (np.abs(p[..., 1] - cy) < hy)


def stack_success(frame: dict, cfg: DetectorConfig, reference: dict | None = None,
                  memory: dict | None = None) -> bool:
    """Cube A has been picked from its spot and, with the gripper open, sits on cube B (A-coloured pixels
    above B's top, over B) or is being released onto it (the TCP over B at stacking height).

    The release test matters: the simulator counts A touching B for one or two frames before it tips
    off, while the hand still hides it. ``memory`` (the tracker's, per episode) keeps the last readable
    share of A left at its spot, for frames where the arm hides that spot."""
    if reference is None:
        raise ValueError("stack detection compares against the episode's initial frame: pass reference=")
    if "rgb" not in frame or "rgb" not in reference:
        raise ValueError("stack detection reads colour: the frame and the reference need an 'rgb' (H, W, 3) uint8")
    cubes = _cached(memory, "stack_cubes", lambda: _stack_cubes(reference, cfg))
    if cubes is None:                           # colour cannot tell the cubes apart: read XYZ alone
        return _stack_top_in_band(frame, cfg)
    window_a, table_c, a_c, b_xy = cubes
    left = _mass_left(frame, reference, window_a, table_c, a_c, cfg)
    if memory is not None:
        left = memory["stack_a_left"] = left if left is not None else memory.get("stack_a_left")
    if frame["finger_m"] <= cfg.released_finger_m or left is None or left > cfg.stack_picked_mass_frac:
        return False
    tcp = np.asarray(frame["tcp_world"], dtype=np.float64)
    lo, hi = cfg.stack_release_tcp_m
    releasing = (np.linalg.norm(tcp[:2] - b_xy) < cfg.stack_on_b_radius_m
                 and lo < tcp[2] - cfg.table_z_m < hi)
    return bool(releasing or _a_on_b_pixels(frame, table_c, a_c, b_xy, cfg) >= cfg.stack_a_min_pixels)


def _stack_top_in_band(frame: dict, cfg: DetectorConfig) -> bool:
    """The XYZ rule: the highest object's top sits where A on B would, with the gripper open."""
    top = object_top_m(frame, cfg)
    return cfg.stack_top_min_m < top < cfg.stack_top_max_m and frame["finger_m"] > cfg.released_finger_m


def _stack_cubes(reference: dict, cfg: DetectorConfig):
    """From the initial frame: cube A's search window (H, W), the table's and A's chroma (3,), and B's
    centre (2,) world xy; None when colour does not separate two cubes from the table."""
    p = world_points(reference)
    h = p[..., 2] - cfg.table_z_m
    c = _chroma(reference["rgb"])
    free = reference["valid"] & ~_robot(reference, cfg)
    cubes = (free & (h > cfg.resting_band_m[0]) & (h < cfg.stack_object_max_m) & _over_table(p, cfg)
             & (c.max(-1) - c.min(-1) > cfg.stack_min_saturation))
    split = _two_colours(c[cubes], cfg.lift_min_chroma_contrast)
    if split is None:
        return None
    first = np.zeros_like(cubes)
    first[cubes] = split
    groups = [cubes & first, cubes & ~first]
    if min(g.sum() for g in groups) < cfg.min_points:
        return None
    a, b = sorted(groups, key=lambda g: np.quantile(h[g], cfg.top_quantile))   # A is the smaller cube
    window = binary_dilation(a, iterations=cfg.lift_window_px)
    ring = free & window & ~binary_dilation(cubes, iterations=1)
    a_c = np.median(c[a], 0)
    table_c = np.median(c[ring], 0) if ring.any() else np.median(c[free & ~cubes], 0)
    if np.linalg.norm(a_c - table_c) < cfg.lift_min_chroma_contrast:
        return None
    b_top = b & (h > cfg.stack_b_top_face_m)     # the top face's centre, not the visible sides'
    b_xy = np.median(p[b_top if b_top.sum() >= cfg.min_points else b][:, :2], 0)
    return window, table_c, a_c, b_xy


def _two_colours(x: np.ndarray, min_contrast: float, iters: int = 10) -> np.ndarray | None:
    """(N,) bool split of (N, 3) chroma into two colours (2-means from the two most distant pixels);
    None when there are no two distinct colours."""
    if len(x) < 2:
        return None
    a = x[np.argmax(np.linalg.norm(x - x.mean(0), axis=1))]
    b = x[np.argmax(np.linalg.norm(x - a, axis=1))]
    for _ in range(iters):
        first = np.linalg.norm(x - a, axis=1) < np.linalg.norm(x - b, axis=1)
        if first.all() or not first.any():
            return None
        a, b = x[first].mean(0), x[~first].mean(0)
    return first if np.linalg.norm(a - b) >= min_contrast else None


def _a_on_b_pixels(frame: dict, table_c: np.ndarray, a_c: np.ndarray, b_xy: np.ndarray,
                   cfg: DetectorConfig) -> int:
    """Number of A-coloured scene pixels above B's top and over B."""
    share = _colour_share(frame["rgb"], table_c, a_c)
    p = world_points(frame)
    h = p[..., 2] - cfg.table_z_m
    over_b = np.linalg.norm(p[..., :2] - b_xy, axis=-1) < cfg.stack_on_b_radius_m
    a = (frame["valid"] & ~_robot(frame, cfg) & (share > cfg.stack_a_share) & over_b
         & (h > cfg.stack_a_min_m) & (h < cfg.stack_top_max_m))
    return int(a.sum())


def pick_place_success(frame: dict, cfg: DetectorConfig, reference: dict | None = None,
                       memory: dict | None = None) -> bool:
    """The object rests in the target compartment: the pixels whose world point rose above what the
    initial frame saw there (the object; walls and robosuite's visual goal marker never move), no
    higher than a resting object's top, have their median inside the compartment (the simulator's
    predicate reads the object's centre), with the gripper open."""
    if cfg.target_box_xy_m is None:
        raise ValueError("pick-place detection needs DetectorConfig.target_box_xy_m (the target compartment); "
                         "use detector_config(task)")
    if reference is None:
        raise ValueError("pick-place detection compares against the episode's initial frame: pass reference=")
    cur, ref = world_points(frame), world_points(reference)
    keep = frame["valid"] & reference["valid"] & ~_robot(frame, cfg) & ~_robot(reference, cfg)
    x0, x1, y0, y1 = cfg.target_box_xy_m
    m = cfg.target_search_margin_m
    near = (cur[..., 0] > x0 - m) & (cur[..., 0] < x1 + m) & (cur[..., 1] > y0 - m) & (cur[..., 1] < y1 + m)
    rose = cur[..., 2] - ref[..., 2] > cfg.placed_rise_m
    low = cur[..., 2] < cfg.table_z_m + cfg.in_bin_max_height_m
    pts = cur[keep & near & rose & low]
    if len(pts) < cfg.placed_min_points or frame["finger_m"] <= cfg.released_finger_m:
        return False
    cx, cy = np.median(pts[:, 0]), np.median(pts[:, 1])
    return bool(x0 < cx < x1 and y0 < cy < y1)


def world_points(frame: dict) -> np.ndarray:
    """(H, W, 3) world-frame points of a frame's camera-frame pointmap."""
    T = np.asarray(frame["T_world_cam"], dtype=np.float64)
    return frame["pointmap"].astype(np.float64) @ T[:3, :3].T + T[:3, 3]


def _robot(frame: dict, cfg: DetectorConfig) -> np.ndarray:
    m = frame["robot_mask"]
    return binary_dilation(m, iterations=cfg.robot_dilate_px) if cfg.robot_dilate_px > 0 else m


DETECTORS = {"lift": lift_success, "stack": stack_success, "pick_place_can": pick_place_success}


def _check_task(task: str) -> None:
    if task not in DETECTORS:
        raise ValueError(f"No success detector for task '{task}'. Known: {sorted(DETECTORS)}")


def detect(task: str, frame: dict, cfg: DetectorConfig | None = None, reference: dict | None = None,
           memory: dict | None = None) -> bool:
    """Per-frame task predicate read from one 4D frame; ``reference`` is the episode's initial frame
    (same keys), which every detector compares against; ``memory`` a per-episode dict (the tracker's)
    for what a detector carries from frame to frame."""
    _check_task(task)
    return bool(DETECTORS[task](frame, cfg or detector_config(task), reference, memory))


class SuccessTracker:
    """Episode success from a stream of frames: ``min_consecutive_frames`` detections in a row.
    ``reset(reference)`` starts an episode from its initial frame."""

    def __init__(self, task: str, cfg: DetectorConfig | None = None):
        _check_task(task)               # at construction: an env with an unknown task fails at make()
        self.task, self.cfg, self.streak = task, cfg or detector_config(task), 0
        self.reference: dict | None = None
        self.memory: dict = {}
        self.detected = False           # the last frame's per-frame detection

    def reset(self, reference: dict | None = None) -> None:
        self.streak, self.reference, self.memory, self.detected = 0, reference, {}, False

    def update(self, frame: dict) -> bool:
        """Feed the next frame; True once the episode counts as a success."""
        self.detected = detect(self.task, frame, self.cfg, self.reference, self.memory)
        self.streak = self.streak + 1 if self.detected else 0
        return self.streak >= self.cfg.min_consecutive_frames
