"""Per-frame features of the stack rule, for a grid over its thresholds (grid.py).

    PYTHONPATH=. python benchmarks/results/trials/stack_detector/features.py out/stack_detector/calib.npz

Per frame: the simulator's predicate, commanded finger opening, the TCP's xy distance to cube B's
centre and its height, the share of cube A's colour mass left at its initial spot (NaN when hidden),
and the number of A-coloured pixels (share > 0.5) 5.5-11 cm high within 2/3/4/5/6 cm of B.
Cubes, colours and B's centre come from the detector's own `_stack_cubes` on the episode's frame 0.
"""
import sys

import numpy as np

from robo4d_env.success import _colour_share, _mass_left, _robot, _stack_cubes, detector_config, world_points

RADII_M = (0.02, 0.03, 0.04, 0.05, 0.06)


def frame(d, i):
    return {"rgb": d["rgb"][i], "pointmap": d["pointmap"][i], "valid": d["valid"][i], "robot_mask": d["robot_mask"][i],
            "T_world_cam": np.eye(4), "finger_m": float(d["finger_m"][i]), "tcp_world": d["tcp_world"][i]}


def main(path: str) -> None:
    cfg, d, rows = detector_config("stack"), dict(np.load(path)), []
    for e in np.unique(d["ep"]):
        ix = np.where(d["ep"] == e)[0]
        ref = frame(d, ix[0])
        window, table_c, a_c, b_xy = _stack_cubes(ref, cfg)
        for t, i in enumerate(ix):
            f = frame(d, i)
            left = _mass_left(f, ref, window, table_c, a_c, cfg)
            seen = f["valid"] & ~_robot(f, cfg)
            p = world_points(f)[seen]
            h, dist = p[:, 2] - cfg.table_z_m, np.linalg.norm(p[:, :2] - b_xy, axis=1)
            share = _colour_share(f["rgb"], table_c, a_c)[seen]
            a_high = (share > cfg.stack_a_share) & (h > cfg.stack_a_min_m) & (h < cfg.stack_top_max_m)
            tcp = f["tcp_world"]
            rows.append((e, t, d["label"][i], f["finger_m"], np.linalg.norm(tcp[:2] - b_xy), tcp[2] - cfg.table_z_m,
                         np.nan if left is None else left, *[int((a_high & (dist < r)).sum()) for r in RADII_M]))
    np.save(path.replace(".npz", "_features.npy"), np.array(rows, dtype=np.float64))


if __name__ == "__main__":
    main(sys.argv[1])
