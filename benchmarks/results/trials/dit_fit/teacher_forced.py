"""Lift detection when the DiT gets TRUE frames up to ``--start`` and generates only the rest (refiner off).

    PYTHONPATH=. python benchmarks/results/trials/dit_fit/teacher_forced.py --checkpoint <model> --data data/lift_calib --start 24

Separates "cannot show a lift at all" from "drifts before the lift": the usual rollout starts from frame 0,
so by the grasp (frames 25-36) every context frame is already generated. Frames 0..start are the truth,
start+1..48 the model's; the detector and the graded mass left are ``../vae_encoder/oracle_vae.py``'s.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vae_encoder"))
from oracle_vae import auc, detect, frames, min_mass_left  # noqa: E402

from benchmarks.world_model import load_episodes, load_model  # noqa: E402
from robo4d_env.kinematics import RobotModel  # noqa: E402

T = 48


def true_and_generated(model, robot, ep, start: int, refine_robot: bool):
    """Detector inputs (``oracle_vae.frames``) of frames 0..T: the truth, and the truth up to ``start`` followed by
    the model's rollout from it (generator seed 0)."""
    c, fut = slice(0, start + 1), slice(start + 1, T + 1)
    gen = model.rollout(ep["rgb"][c], ep["pointmap"][c], ep["robot_pointmap"][fut], ep["robot_mask"][fut],
                        context_valid=ep["valid"][c], context_robot_pointmap=ep["robot_pointmap"][c],
                        context_robot_mask=ep["robot_mask"][c], generator=torch.Generator().manual_seed(0),
                        camera_K=ep["K"], T_world_cam=ep["T_world_cam"], refine_robot=refine_robot)
    gen = {k: v.numpy() for k, v in gen.items()}
    T_wb = ep["T_world_base"].numpy()
    tcp = robot.fk(ep["q_cmd"][:T + 1].float())[:, :3, 3].numpy() @ T_wb[:3, :3].T + T_wb[:3, 3]
    return frames(ep, tcp, T), frames(ep, tcp, T, gen, start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default="data/lift_calib")
    p.add_argument("--episodes", type=int, default=40)
    p.add_argument("--start", type=int, default=24, help="last true frame given as context")
    p.add_argument("--frac", type=float, default=0.2, help="lift_mass_frac of the detector")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    torch.set_num_threads(2)
    model, eps, robot, rows = load_model(a.checkpoint), load_episodes([a.data], T + 1, a.episodes), RobotModel(), []
    for ep in tqdm(eps, desc="teacher-forced rollouts"):
        gt, tf = true_and_generated(model, robot, ep, a.start, refine_robot=False)
        rows.append({"name": ep["name"], "success": bool(ep["success"]), "gt": detect(gt, a.frac), "tf": detect(tf, a.frac),
                     "gt_min_mass_left": min_mass_left(gt), "tf_min_mass_left": min_mass_left(tf)})
    summary = {}
    for src in ("gt", "tf"):
        pos = [r[f"{src}_min_mass_left"] for r in rows if r["success"]]
        neg = [r[f"{src}_min_mass_left"] for r in rows if not r["success"]]
        summary[src] = {"lifts_found": int(sum(r[src] for r in rows if r["success"])), "lifts": len(pos),
                        "false_fires": int(sum(r[src] for r in rows if not r["success"])), "failures": len(neg),
                        "lifted_median_mass_left": float(np.median(pos)), "failed_median_mass_left": float(np.median(neg)),
                        "auc": auc(pos, neg)}
        print(src, summary[src])
    if a.out:
        Path(a.out).write_text(json.dumps({"checkpoint": a.checkpoint, "data": a.data, "start": a.start,
                                           "lift_mass_frac": a.frac, "summary": summary, "episodes": rows}, indent=1))


if __name__ == "__main__":
    main()
