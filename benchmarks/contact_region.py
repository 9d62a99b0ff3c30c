"""How much of the world's change the robot's contact region holds, on ground-truth episodes.

    python -m benchmarks.contact_region --data data/lift_eval --out results.json

For each chunk of ``--chunk`` frames, the region is ``contact_region`` of the chunk's last known
frame (true pointmap) and the robot over the chunk. Per contact radius it reports:
- ``missed_change``: the share of changed pixels (any RGB channel moves > 12/255 from the known
  frame, or the true point moves > 1 cm) that fall outside the region, i.e. what copying the known
  frame outside the region gets wrong;
- ``region_share``: the share of pixels inside the region (what the model still generates);
- ``oracle_psnr`` / ``oracle_psnr_dynamic``: the true frames inside the region, the known frame
  outside: the ceiling of compositing at that radius.
This is how ``WorldModelConfig.contact_radius_m`` was chosen.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.common import parser, write_results
from benchmarks.world_model import DYNAMIC_THRESHOLD, load_episodes
from robo4d_env.metrics import psnr
from robo4d_env.world_model.contact_region import contact_region

POINT_CHANGE_M = 0.01
RADII_M = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10)


def chunk_rows(ep: dict, start: int, chunk: int, radii) -> list[dict]:
    """Per radius, the figures of one chunk: frames start+1 .. start+chunk against known frame ``start``."""
    sl = slice(start, start + chunk + 1)
    rgb, pm = ep["rgb"][sl].numpy().astype(np.int16), ep["pointmap"][sl].numpy()
    changed = (np.abs(rgb[1:] - rgb[:1]).max(-1) > DYNAMIC_THRESHOLD) | \
              (np.linalg.norm(pm[1:] - pm[:1], axis=-1) > POINT_CHANGE_M)
    dyn = (np.abs(rgb - rgb[:1]).max(-1) > DYNAMIC_THRESHOLD).any(0) | ep["robot_mask"][sl].numpy().any(0)
    rows = []
    for r in radii:
        region = contact_region(ep["pointmap"][start][None], ep["robot_pointmap"][sl][None],
                                ep["robot_mask"][sl][None], r)[0].numpy()
        comp = np.where(region[None, ..., None], rgb[1:], rgb[:1]).astype(np.uint8)
        true = rgb[1:].astype(np.uint8)
        rows.append({"radius_m": r, "changed": int(changed.sum()), "missed": int((changed & ~region).sum()),
                     "region_share": float(region.mean()),
                     "oracle_psnr": float(np.mean([psnr(c, t) for c, t in zip(comp, true)])),
                     "oracle_psnr_dynamic": float(np.mean([psnr(c, t, dyn) for c, t in zip(comp, true)]))})
    return rows


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--data", nargs="+", default=["data/lift_eval"])
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--chunk", type=int, default=12, help="new frames per chunk (the default preset's)")
    p.add_argument("--chunks", type=int, default=4)
    args = p.parse_args(argv)
    eps = load_episodes(args.data, args.chunk * args.chunks + 1, args.episodes)
    rows = [row for ep in tqdm(eps, desc="episodes") for k in range(args.chunks)
            for row in chunk_rows(ep, k * args.chunk, args.chunk, RADII_M)]
    per_radius = {}
    for r in RADII_M:
        sel = [x for x in rows if x["radius_m"] == r]
        per_radius[f"{r:.2f}"] = {
            "missed_change": sum(x["missed"] for x in sel) / max(1, sum(x["changed"] for x in sel)),
            **{k: float(np.mean([x[k] for x in sel])) for k in ("region_share", "oracle_psnr", "oracle_psnr_dynamic")}}
    results = {"data": args.data, "episodes": len(eps), "chunk": args.chunk, "chunks": args.chunks,
               "point_change_m": POINT_CHANGE_M, "per_radius_m": per_radius}
    write_results(args.out, results)
    for r, v in per_radius.items():
        print(f"radius {r} m: " + ", ".join(f"{k} {x:.4f}" for k, x in v.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
