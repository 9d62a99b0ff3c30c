"""Oracle-DiT lift detection through a given VAE: can *any* DiT show a lift the detector reads?

    PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --vae out/s22/vae_encdyn/vae --episodes 40
    PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint <model> --dit   # the model's own rollouts

Each chunk's "sample" is the VAE encoding of the true future (``../vae_ceiling/oracle_dit.py``), decoded by
the same VAE, inside the normal rollout (contact region, kinematic robot points, ray snapping; robot refiner
off, since it was trained for the shipped decoder). The VAE replaces the shipped model's one in memory only;
the oracle never calls the DiT, so latent statistics cancel. Prints lifts found / false fires per
``lift_mass_frac`` and writes them as JSON.
"""
import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLWan
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vae_ceiling"))
from oracle_dit import oracle_sampler  # noqa: E402

from benchmarks.world_model import load_episodes, load_model, rollout_batch  # noqa: E402
from robo4d_env.kinematics import RobotModel  # noqa: E402
from robo4d_env.success import SuccessTracker, _mass_left, _resting_cube, detector_config  # noqa: E402

DEFAULT_FRAMES = 48  # frames generated per episode


def frames(ep, tcp, T, roll=None, start=0):
    """Per-frame detector inputs (world frame) of frames 0..T: the truth up to ``start``, then the rollout's
    frames if given (``roll`` holds frames start+1..T)."""
    out = []
    for t in range(T + 1):
        gen = roll is not None and t > start
        out.append({"rgb": roll["rgb"][t - start - 1] if gen else ep["rgb"][t].numpy(),
                    "pointmap": roll["pointmap"][t - start - 1] if gen else ep["pointmap"][t].numpy(),
                    "T_world_cam": np.eye(4), "valid": np.ones(ep["valid"].shape[1:], bool) if gen else ep["valid"][t].numpy(),
                    "robot_mask": ep["robot_mask"][t].numpy() > 0.5, "finger_m": float(ep["finger_cmd"][t]),
                    "tcp_world": tcp[t]})
    return out


def detect(fs, frac):
    tr = SuccessTracker("lift", replace(detector_config("lift"), lift_mass_frac=frac))
    tr.reset(reference=fs[0])
    return any([tr.update(f) for f in fs[1:]])


def min_mass_left(fs) -> float:
    """Smallest cube-coloured mass left at the resting spot (fraction of frame 0's) over the frames where the
    closed gripper is up, i.e. where the detector may fire; 1.0 when there is none. Graded: it shows
    whether a rollout moves the cube at all, when no frame crosses the threshold."""
    cfg = detector_config("lift")
    window, table_c, cube_c = _resting_cube(fs[0], cfg)
    left = [_mass_left(f, fs[0], window, table_c, cube_c, cfg) for f in fs[1:]
            if f["tcp_world"][2] - cfg.table_z_m > cfg.lift_tcp_min_m and f["finger_m"] < cfg.released_finger_m]
    left = [x for x in left if x is not None]
    return float(min(left)) if left else 1.0


def auc(pos: list, neg: list) -> float:
    """P(a lifted episode has less mass left than a failed one), ties count half."""
    return float(np.mean([(p < n) + 0.5 * (p == n) for p in pos for n in neg]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vae", default=None, help="VAE directory (default: the shipped model's own)")
    p.add_argument("--checkpoint", default="assets/world_model/lift")
    p.add_argument("--data", default="data/lift_eval")
    p.add_argument("--episodes", type=int, default=40)
    p.add_argument("--out", default=None)
    p.add_argument("--dit", action="store_true", help="the checkpoint's own DiT rollouts (seed 0) instead of the oracle")
    p.add_argument("--fracs", type=float, nargs="+", default=[0.1, 0.2, 0.3], help="lift_mass_frac values to score")
    p.add_argument("--guidance-scale", type=float, default=None, help="DiT rollouts: CFG scale (default: the checkpoint's)")
    p.add_argument("--sampling-steps", type=int, default=None, help="DiT rollouts: sampler steps (default: the checkpoint's)")
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames to generate per episode (training episodes are shorter)")
    p.add_argument("--refine-robot", action="store_true", help="DiT rollouts: with the checkpoint's robot refiner")
    p.add_argument("--seed", type=int, default=0, help="DiT rollouts: generator seed")
    p.add_argument("--contact-radius-m", type=float, default=None, help="override; < 0 turns the contact region off")
    a = p.parse_args()
    torch.set_num_threads(2)
    T = a.frames
    model, eps = load_model(a.checkpoint), load_episodes([a.data], T + 1, a.episodes)
    if a.vae:
        model.vae.load_state_dict(AutoencoderKLWan.from_pretrained(a.vae, local_files_only=True).state_dict())
    robot, rows, name = RobotModel(), [], "dit" if a.dit else "oracle"
    for ep in tqdm(eps, desc="oracle rollouts"):
        if not a.dit:
            model.sample = oracle_sampler(model, ep)
        roll = rollout_batch(model, [ep], T, a.seed, num_steps=a.sampling_steps, guidance_scale=a.guidance_scale,
                             refine_robot=a.refine_robot and a.dit, contact_radius_m=a.contact_radius_m)[0]
        T_wb = ep["T_world_base"].numpy()
        tcp = robot.fk(ep["q_cmd"][:T + 1].float())[:, :3, 3].numpy() @ T_wb[:3, :3].T + T_wb[:3, 3]
        gt, gen = frames(ep, tcp, T), frames(ep, tcp, T, roll)
        rows.append({"name": ep["name"], "success": bool(ep["success"]),
                     **{f"{src}_{f}": detect(fs, f) for src, fs in (("gt", gt), (name, gen)) for f in a.fracs},
                     "gt_min_mass_left": min_mass_left(gt), f"{name}_min_mass_left": min_mass_left(gen)})
    summary = {}
    for src in ("gt", name):
        for f in a.fracs:
            pos = [r[f"{src}_{f}"] for r in rows if r["success"]]
            neg = [r[f"{src}_{f}"] for r in rows if not r["success"]]
            summary[f"{src}_{f}"] = {"lifts_found": int(sum(pos)), "lifts": len(pos), "false_fires": int(sum(neg)), "failures": len(neg)}
            print(f"{src} lift_mass_frac {f}: lifts found {sum(pos)}/{len(pos)}, false fires {sum(neg)}/{len(neg)}")
    for src in ("gt", name):
        pos = [r[f"{src}_min_mass_left"] for r in rows if r["success"]]
        neg = [r[f"{src}_min_mass_left"] for r in rows if not r["success"]]
        summary[f"{src}_min_mass_left"] = {"lifted_median": float(np.median(pos)), "failed_median": float(np.median(neg)),
                                           "auc": auc(pos, neg)}
        print(f"{src} min mass left: lifted median {np.median(pos):.2f}, failed median {np.median(neg):.2f}, "
              f"AUC {auc(pos, neg):.2f}")
    if a.out:
        Path(a.out).write_text(json.dumps({"vae": a.vae or a.checkpoint, "source": name, "summary": summary,
                                           "episodes": rows}, indent=1))


if __name__ == "__main__":
    main()
