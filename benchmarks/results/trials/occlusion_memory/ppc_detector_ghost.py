"""Pick-place detector (it reads points) on generated rollouts of held-out episodes, ghost removal on and off.

    PYTHONPATH=. python benchmarks/results/trials/occlusion_memory/ppc_detector_ghost.py --episodes 24 --frames 150

Each episode of data/ppc_detect3 (eval seeds 10040-10049, expert + 4 perturbed replays, run to the horizon) is
rolled out from its frame 0 by the shipped pick-place model with its own robot; the env's episode rule
(``SuccessTracker``, reference = the true frame 0) runs on the generated frames and on the true ones, and is
compared with the simulator's outcome.
"""
import argparse

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.world_model import load_episodes, load_model, rollout_batch
from robo4d_env.success import SuccessTracker

EYE = np.eye(4)


def episode_hit(ep: dict, rgb, pointmap, T: int) -> bool:
    """The env's episode rule on frames 1..T (world-frame pointmaps, so T_world_cam = I)."""
    tr = SuccessTracker("pick_place_can")
    tr.reset(reference={"rgb": ep["rgb"][0].numpy(), "pointmap": ep["pointmap"][0].numpy(), "T_world_cam": EYE,
                        "valid": ep["valid"][0].numpy(), "robot_mask": ep["robot_mask"][0].numpy()})
    for t in range(1, T + 1):
        frame = {"rgb": rgb[t - 1], "pointmap": pointmap[t - 1], "T_world_cam": EYE,
                 "valid": np.ones(pointmap.shape[1:3], bool), "robot_mask": ep["robot_mask"][t].numpy(),
                 "finger_m": float(ep["finger_cmd"][t]), "tcp_world": ep["tcp_world"][t].numpy()}
        if tr.update(frame):
            return True
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/ppc_detect3")
    p.add_argument("--checkpoint", default="assets/world_model/pick_place_can")
    p.add_argument("--episodes", type=int, default=24)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--batch", type=int, default=8)
    a = p.parse_args()
    model, eps = load_model(a.checkpoint), load_episodes([a.data], a.frames + 1, a.episodes)
    truth = [bool(e["success"]) for e in eps]
    gt = [episode_hit(e, e["rgb"][1:].numpy(), e["pointmap"][1:].numpy(), a.frames) for e in eps]
    rows = {"ground truth frames": gt}
    for name, tol in (("generated, ghost removal on", None), ("generated, ghost removal off", -1.0)):
        model.wm.ghost_tolerance_m = 0.01 if tol is None else tol
        hits = []
        for i in tqdm(range(0, len(eps), a.batch), desc=name):
            for e, r in zip(eps[i:i + a.batch], rollout_batch(model, eps[i:i + a.batch], a.frames, 0)):
                hits.append(episode_hit(e, r["rgb"], r["pointmap"], a.frames))
        rows[name] = hits
    pos = sum(truth)
    print(f"{len(eps)} episodes, {a.frames} generated frames each, {pos} placed in the simulator")
    for name, hits in rows.items():
        tp = sum(h and y for h, y in zip(hits, truth))
        fp = sum(h and not y for h, y in zip(hits, truth))
        agree = np.mean([h == y for h, y in zip(hits, truth)])
        print(f"{name}: placements found {tp}/{pos}, false fires {fp}/{len(eps) - pos}, agreement {agree:.3f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
