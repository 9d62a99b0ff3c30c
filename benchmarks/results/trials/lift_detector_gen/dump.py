"""Dump ground truth, oracle-DiT and DiT rollouts of held-out lift episodes for offline detector work.

    PYTHONPATH=. python benchmarks/results/trials/lift_detector_gen/dump.py --data data/lift_eval --episodes 20 --out out/detector_gen/lift_eval.npz

Per episode: GT rgb/pointmap (world)/robot_mask/valid, commanded TCP (world) and finger, the simulator's
success, and the rollouts of the shipped lift model (seed 0) and of the oracle DiT (true future latents).
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vae_ceiling"))
from oracle_dit import oracle_sampler  # noqa: E402

from benchmarks.world_model import load_episodes, load_model, rollout_batch  # noqa: E402
from robo4d_env.kinematics import RobotModel  # noqa: E402

T = 48


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--checkpoint", default="assets/world_model/lift")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    model, eps = load_model(a.checkpoint), load_episodes([a.data], T + 1, a.episodes)
    robot = RobotModel()
    gen = []
    for i in tqdm(range(0, len(eps), a.batch), desc="DiT rollouts"):
        gen += rollout_batch(model, eps[i:i + a.batch], T, 0)
    sample = model.sample
    oracle = []
    for ep in tqdm(eps, desc="oracle rollouts"):
        model.sample = oracle_sampler(model, ep)
        oracle += rollout_batch(model, [ep], T, 0)
    model.sample = sample
    out = {k: [] for k in ("rgb", "pointmap", "robot_mask", "valid", "tcp", "finger", "success",
                           "gen_rgb", "gen_pointmap", "oracle_rgb", "oracle_pointmap")}
    for ep, g, o in zip(eps, gen, oracle):
        T_wb = ep["T_world_base"].numpy()
        tcp = robot.fk(ep["q_cmd"][:T + 1].float())[:, :3, 3].numpy() @ T_wb[:3, :3].T + T_wb[:3, 3]
        out["rgb"].append(ep["rgb"][:T + 1].numpy())
        out["pointmap"].append(ep["pointmap"][:T + 1].numpy().astype(np.float32))
        out["robot_mask"].append(ep["robot_mask"][:T + 1].numpy() > 0.5)
        out["valid"].append(ep["valid"][:T + 1].numpy())
        out["tcp"].append(tcp.astype(np.float32))
        out["finger"].append(ep["finger_cmd"][:T + 1].numpy().astype(np.float32))
        out["success"].append(bool(ep["success"]))
        for name, r in (("gen", g), ("oracle", o)):
            out[f"{name}_rgb"].append(r["rgb"])
            out[f"{name}_pointmap"].append(r["pointmap"].astype(np.float32))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, names=np.array([e["name"] for e in eps]), **{k: np.stack(v) for k, v in out.items()})
    print("wrote", a.out, {k: np.stack(v).shape for k, v in out.items()})


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
