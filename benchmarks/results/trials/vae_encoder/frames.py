"""Frames 12, 24, 32, 40, 48 of the first lifted held-out episode: truth, then each checkpoint's own rollout
(refiner off, seed 0), with the oracle rollout through the first checkpoint's VAE after its row.

    PYTHONPATH=. python benchmarks/results/trials/vae_encoder/frames.py out/s22/kin_p1/model assets/world_model/lift
"""
import sys, numpy as np, torch, imageio
sys.path.insert(0, "benchmarks/results/trials/vae_ceiling")
from oracle_dit import oracle_sampler
from benchmarks.world_model import load_episodes, load_model, rollout_batch
torch.set_num_threads(2)
eps = load_episodes(["data/lift_eval"], 49, 40)
ep = [e for e in eps if e["success"]][0]
rows = [np.concatenate([ep["rgb"][t].numpy() for t in (12, 24, 32, 40, 48)], 1)]
for ck in sys.argv[1:]:
    m = load_model(ck)
    r = rollout_batch(m, [ep], 48, 0, refine_robot=False)[0]
    rows.append(np.concatenate([r["rgb"][t - 1] for t in (12, 24, 32, 40, 48)], 1))
    if ck == sys.argv[1]:
        m.sample = oracle_sampler(m, ep)
        r = rollout_batch(m, [ep], 48, 0, refine_robot=False)[0]
        rows.append(np.concatenate([r["rgb"][t - 1] for t in (12, 24, 32, 40, 48)], 1))
img = np.concatenate(rows, 0)
imageio.imwrite("benchmarks/results/trials/vae_encoder/lift_frames.png", np.kron(img, np.ones((3, 3, 1), np.uint8)))
