"""Where does the generated world lose the cube? Cube mass left at its resting spot, per frame, truth vs rollout.

    PYTHONPATH=. python benchmarks/results/trials/grasp_decision/mass_curve.py --checkpoint assets/world_model/lift \
        --data data/lift_calib --out mass_curve.json [--start 24]

The lift detector's own measure (``success._mass_left``: the cube-coloured mass in a window around the cube's
frame-0 pixels, on visible table pixels, as a fraction of frame 0's), at every frame, for the true frames and
for a rollout of the model (refiner on) given the true frames up to ``--start`` (0: a normal rollout). Medians
over lifted and failed episodes, per frame; a plot beside the JSON.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dit_fit"))
from teacher_forced import T, true_and_generated  # noqa: E402

from benchmarks.world_model import load_episodes, load_model  # noqa: E402
from robo4d_env.kinematics import RobotModel  # noqa: E402
from robo4d_env.success import _mass_left, _resting_cube, _robot, detector_config, world_points  # noqa: E402



def curve(fs) -> list:
    """Mass left per frame 1..T (None where the spot is hidden)."""
    cfg = detector_config("lift")
    window, table_c, cube_c = _resting_cube(fs[0], cfg)
    return [_mass_left(f, fs[0], window, table_c, cube_c, cfg) for f in fs[1:]]


def heights(fs) -> list:
    """Median height above the table (m) of the cube's frame-0 pixels that the robot does not cover, per frame
    1..T (None when all are covered): does the world pointmap keep the resting cube?"""
    cfg = detector_config("lift")
    h0 = world_points(fs[0])[..., 2] - cfg.table_z_m
    lo, hi = cfg.resting_band_m
    cube = fs[0]["valid"] & ~_robot(fs[0], cfg) & (h0 > lo) & (h0 < hi)
    out = []
    for f in fs[1:]:
        px = cube & ~_robot(f, cfg)
        out.append(float(np.median(world_points(f)[..., 2][px] - cfg.table_z_m)) if px.any() else None)
    return out


def medians(rows, key, success):
    arr = np.array([[np.nan if v is None else v for v in r[key]] for r in rows if r["success"] == success])
    if arr.size == 0:                   # no episode of this kind (a small --episodes)
        return [None] * T
    return [None if np.all(np.isnan(c)) else float(np.nanmedian(c)) for c in arr.T]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", default="assets/world_model/lift")
    p.add_argument("--data", default="data/lift_calib")
    p.add_argument("--episodes", type=int, default=40)
    p.add_argument("--start", type=int, default=0, help="last true frame given as context (0: a normal rollout)")
    p.add_argument("--refine-robot", choices=["on", "off"], default="on")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(2)
    model, eps, robot, rows = load_model(a.checkpoint), load_episodes([a.data], T + 1, a.episodes), RobotModel(), []
    for ep in tqdm(eps, desc="rollouts"):
        gt, gen = true_and_generated(model, robot, ep, a.start, refine_robot=a.refine_robot == "on")
        rows.append({"name": ep["name"], "success": bool(ep["success"]), "gt": curve(gt), "gen": curve(gen),
                     "gt_height_m": heights(gt), "gen_height_m": heights(gen)})
    summary = {f"{src}_{kind}": medians(rows, src, kind == "lifted") for src in ("gt", "gen") for kind in ("lifted", "failed")}
    height = {f"{src}_{kind}": medians(rows, f"{src}_height_m", kind == "lifted")
              for src in ("gt", "gen") for kind in ("lifted", "failed")}
    out = Path(a.out)
    out.write_text(json.dumps({"checkpoint": a.checkpoint, "data": a.data, "start": a.start,
                               "refine_robot": a.refine_robot, "median_mass_left": summary,
                               "median_cube_height_m": height, "episodes": rows}, indent=1))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    t = np.arange(1, T + 1)
    for key, style in (("gt_lifted", "g-"), ("gt_failed", "r-"), ("gen_lifted", "g--"), ("gen_failed", "r--")):
        ax.plot(t, [np.nan if v is None else v for v in summary[key]], style, label=key.replace("_", ", "))
    ax.axvline(a.start + 0.5, color="k", lw=0.5)
    ax.set_xlabel("frame"), ax.set_ylabel("cube mass left at its spot (median)"), ax.legend(fontsize=8)
    ax.set_title(f"{a.checkpoint}: true frames to {a.start}, then generated")
    fig.tight_layout(), fig.savefig(out.with_suffix(".png"), dpi=120)
    for name, table in (("mass left", summary), ("cube height, cm", height)):
        print(name)
        for k, vals in table.items():
            scale = 100 if "height" in name else 1
            print(f"  {k:11s}", " ".join("  - " if v is None else f"{v * scale:4.2f}" for v in vals))


if __name__ == "__main__":
    main()
