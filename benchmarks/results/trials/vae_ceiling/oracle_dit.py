"""Ceiling of a world model's VAE for lift detection: an "oracle DiT" whose sample for every chunk is the
VAE encoding of the true chunk. Everything else is the normal rollout (contact region, kinematic robot
points, optional residual decoding) and the normal lift detector.

    PYTHONPATH=. python benchmarks/results/trials/vae_ceiling/oracle_dit.py CHECKPOINT [--residual-decoding] [--contact-radius-m -1]

Prints per held-out episode (data/lift_eval, 16 episodes, 48 frames): the simulator's success, the
detector's verdict on the oracle rollout, and the resting-band point count (the lift detector needs 0)
over the last 10 frames.
"""
import argparse

import numpy as np
import torch

from benchmarks.world_model import load_episodes, load_model, rollout_batch
from robo4d_env.kinematics import RobotModel
from robo4d_env.success import SuccessTracker, detector_config, scene_points
from robo4d_env.world_model.modeling_world_model import pointmap_to_unit, rgb_to_unit
from robo4d_env.world_model.windows import rollout_window_indices

T = 48


def oracle_sampler(model, ep):
    """A stand-in for ``model.sample`` returning the true chunk's latents, chunk after chunk."""
    cfg = model.wm
    lo, hi = torch.tensor(cfg.workspace_min)[None], torch.tensor(cfg.workspace_max)[None]
    rgb = rgb_to_unit(ep["rgb"][:T + 1][None])
    xyz = pointmap_to_unit(ep["pointmap"][:T + 1][None], ep["valid"][:T + 1][None], lo, hi)
    made = [0]

    def sample(inputs, *args, **kwargs):
        idx = rollout_window_indices(cfg, 1 + made[0], 1 + T)
        made[0] += cfg.frames_per_chunk - cfg.context_frames
        return model.encode_pair(rgb[:, :, idx], xyz[:, :, idx])
    return sample


def main():
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("--residual-decoding", action="store_true")
    p.add_argument("--contact-radius-m", type=float, default=None, help="-1: contact compositing off")
    a = p.parse_args()
    model, eps = load_model(a.checkpoint), load_episodes(["data/lift_eval"], T + 1, 16)
    robot, cfg = RobotModel(), detector_config("lift")
    rows = []
    for ep in eps:
        model.sample = oracle_sampler(model, ep)
        pred = rollout_batch(model, [ep], T, 0, residual_decoding=a.residual_decoding,
                             contact_radius_m=a.contact_radius_m)[0]
        T_wb = ep["T_world_base"].numpy()
        tcp = robot.fk(ep["q_cmd"][:T + 1].float())[:, :3, 3].numpy() @ T_wb[:3, :3].T + T_wb[:3, 3]

        def frame(t, pm, rgb):
            return {"rgb": rgb, "pointmap": pm, "valid": np.ones(pm.shape[:2], bool), "robot_mask": ep["robot_mask"][t].numpy(),
                    "T_world_cam": np.eye(4), "finger_m": float(ep["finger_cmd"][t]), "tcp_world": tcp[t]}
        tracker, lifted, band = SuccessTracker("lift", cfg), False, []
        tracker.reset(frame(0, ep["pointmap"][0].numpy(), ep["rgb"][0].numpy()))
        for t in range(1, T + 1):
            fr = frame(t, pred["pointmap"][t - 1], pred["rgb"][t - 1])
            lifted = tracker.update(fr) or lifted
            h = scene_points(fr, cfg)[:, 2] - cfg.table_z_m
            band.append(int(((h > cfg.resting_band_m[0]) & (h < cfg.resting_band_m[1])).sum()))
        rows.append((bool(ep["success"]), lifted))
        print(ep["name"], "sim", bool(ep["success"]), "detected", lifted, "band points, last 10 frames", band[-10:])
    r = np.array(rows)
    print(f"simulator successes {int(r[:, 0].sum())}/{len(r)}, detected on oracle rollouts {int(r[:, 1].sum())}/{len(r)}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
