"""Task-level check of a lift world model: does the generated clip keep the cube where it rests, and
clear it away exactly when the real episode lifts it?

    python benchmarks/results/trials/dit_tokens/object_persistence.py CHECKPOINT [--episodes 40] [--residual-decoding]

For each held-out episode (data/lift_eval), the cube's pixels in the real frame 0 (world points 6-60 mm
above the table, on it, off the arm) give the cube's and the table's colours. Per frame, "presence" is
the share of those pixels, where the arm does not hide them, nearer the cube's colour than the
table's. Printed: mean presence over frames 1-10 (the arm has not arrived: should stay as in frame 0)
and over frames 40-48 for episodes the simulator counts as lifted (end1: should be ~0) and not (end0).
"""
import argparse

import numpy as np
import torch
from scipy.ndimage import binary_dilation

from benchmarks.world_model import load_episodes, load_model, rollout_batch

TABLE_Z_M, HALF_M, BAND_M, RING_PX, BATCH = 0.8, 0.4, (0.006, 0.06), 3, 8


def cube_reference(ep):
    pm, valid = ep["pointmap"][0].numpy(), ep["valid"][0].numpy()
    keep = valid & ~binary_dilation(ep["robot_mask"][0].numpy()) & (np.abs(pm[..., :2]) < HALF_M).all(-1)
    h = pm[..., 2] - TABLE_Z_M
    cube = keep & (h > BAND_M[0]) & (h < BAND_M[1])
    table = keep & (h < 0.004) & ~binary_dilation(cube, iterations=RING_PX)
    rgb = ep["rgb"][0].numpy().astype(float)
    return cube, rgb[cube].mean(0), np.median(rgb[table], 0)


def presence(rgb, robot_mask, ref):
    cube, c_cube, c_table = ref
    vis = cube & ~binary_dilation(robot_mask)
    if not vis.any():
        return np.nan
    x = rgb[vis].astype(float)
    return float((np.linalg.norm(x - c_cube, axis=1) < np.linalg.norm(x - c_table, axis=1)).mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("--episodes", type=int, default=40)
    p.add_argument("--residual-decoding", action="store_true")
    a = p.parse_args()
    model, eps = load_model(a.checkpoint), load_episodes(["data/lift_eval"], 49, a.episodes)
    rows = {"gt": {"early": [], "end1": [], "end0": []}, "gen": {"early": [], "end1": [], "end0": []}}
    for i in range(0, len(eps), BATCH):
        for ep, pred in zip(eps[i:i + BATCH], rollout_batch(model, eps[i:i + BATCH], 48, i,
                                                        residual_decoding=a.residual_decoding)):
            ref = cube_reference(ep)
            masks = [ep["robot_mask"][t].numpy() for t in range(1, 49)]
            for kind, frames in (("gt", [ep["rgb"][t].numpy() for t in range(1, 49)]), ("gen", list(pred["rgb"]))):
                v = np.array([presence(f, m, ref) for f, m in zip(frames, masks)])
                rows[kind]["early"].append(np.nanmean(v[:10]))
                rows[kind]["end1" if ep["success"] else "end0"].append(np.nanmean(v[39:]))
    for kind, r in rows.items():
        print(kind, {k: round(float(np.nanmean(v)), 3) for k, v in r.items()})


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
