"""Dataset-generation figures: throughput, storage, success fractions, and a time estimate.

    python -m benchmarks.data --out results.json                      # 2 lift demos + 18 perturbed, 64 px
    python -m benchmarks.data --demos 8 --workers 2 --out big.json    # a bigger sample

Throughput counts only time spent inside episodes (env construction excluded), per worker process,
measured with all ``--workers`` running at once, so it already includes their contention.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import robo4d_env  # noqa: F401  (first: sets MUJOCO_GL before mujoco is imported)
from benchmarks.common import parser, peak_rss_mb, write_results
from robo4d_env.data.dataset import Robo4DDataset
from robo4d_env.data.generate import GenerateConfig, generate
from robo4d_env.data.inspect import summarize


def estimate_minutes(n_demos: int, perturbed_per_demo: int, demo_success: float, episodes_per_min_per_worker: float,
                     workers: int) -> tuple[float, int]:
    """Minutes and episodes for ``n_demos`` demos plus perturbed replays of the successful ones."""
    episodes = round(n_demos * (1 + demo_success * perturbed_per_demo))
    return episodes / max(episodes_per_min_per_worker * workers, 1e-9), episodes


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--task", default="lift")
    p.add_argument("--demos", type=int, default=2)
    p.add_argument("--perturbed-per-demo", type=int, default=9)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--clip-frames", type=int, default=17)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset-demos", type=int, default=200,
                   help="demos of the default world-model dataset, for the time estimate")
    p.add_argument("--estimate-cores", type=int, default=2)
    p.add_argument("--keep", default=None, help="keep the generated shards in this directory")
    args = p.parse_args()

    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="robo4d_bench_"))
    cfg = GenerateConfig(task=args.task, episodes=args.demos, out=str(out), seed=args.seed, workers=args.workers,
                         resolution=args.resolution, perturbed_per_demo=args.perturbed_per_demo,
                         episodes_per_shard=1, clip_frames=args.clip_frames)
    t0 = time.perf_counter()
    s = generate(cfg)
    wall = time.perf_counter() - t0
    ds = Robo4DDataset(out, clip_frames=args.clip_frames)
    t1 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    load_s = (time.perf_counter() - t1) / max(len(ds), 1)
    rate = s["episodes"] / (s["episode_seconds"] / 60.0)
    demo_success = s["demo_success"] / max(s["demos"], 1)
    minutes, n_eps = estimate_minutes(args.dataset_demos, args.perturbed_per_demo, demo_success, rate,
                                      args.estimate_cores)
    results = {
        "command": "python -m benchmarks.data " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out", "keep")),
        "task": args.task, "resolution": args.resolution, "clip_frames": args.clip_frames,
        "workers": args.workers, "demos": s["demos"], "perturbed": s["perturbed"], "episodes": s["episodes"],
        "control_steps": s["steps"], "mean_steps_per_episode": s["steps"] / max(s["episodes"], 1),
        "episodes_per_min_per_worker": rate,
        "control_steps_per_s_per_worker": s["steps"] / s["episode_seconds"],
        "wall_seconds": wall,
        "bytes_per_episode": s["bytes"] / max(s["episodes"], 1),
        "bytes_per_frame": s["bytes"] / max(s["steps"] + s["episodes"], 1),
        "success_fraction_demos": demo_success,
        "success_fraction_perturbed": s["perturbed_success"] / max(s["perturbed"], 1),
        "perturbed_success_by_sigma": summarize(out)["perturbed_success_by_sigma"],
        "loader_seconds_per_window": load_s,
        "pointmap_stats": ds.stats["pointmap"],
        "estimate": {"dataset_demos": args.dataset_demos, "perturbed_per_demo": args.perturbed_per_demo,
                     "dataset_episodes": n_eps, "cores": args.estimate_cores,
                     "minutes": minutes, "hours": minutes / 60.0},
        "minutes_default_dataset_2_cores": estimate_minutes(args.dataset_demos, args.perturbed_per_demo,
                                                            demo_success, rate, 2)[0],
        "peak_rss_mb_main": peak_rss_mb(),
    }
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
