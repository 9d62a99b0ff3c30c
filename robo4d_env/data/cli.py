"""`robo4d data generate | inspect | subset` (registered by robo4d_env.cli through ``add_parser``)."""
from __future__ import annotations

import argparse
import json

from robo4d_env.data.generate import GenerateConfig, PerturbationConfig, split_seeds


def _generate(args) -> int:
    from robo4d_env.data.generate import generate
    seed = args.seed if args.seed is not None else split_seeds(args.split, args.episodes)[0]
    cfg = GenerateConfig(
        task=args.task, episodes=args.episodes, out=args.out, seed=seed, workers=args.workers,
        resolution=args.resolution, perturbed_per_demo=args.perturbed_per_demo,
        episodes_per_shard=args.episodes_per_shard, extra_cameras=args.extra_cameras,
        randomize=args.randomize, camera_jitter_m=args.camera_jitter_m, max_episode_steps=args.max_steps,
        run_to_horizon=args.run_to_horizon, robot_pointmap_from=args.robot_pointmap_from,
        clip_frames=args.clip_frames, perturb_failed=args.perturb_failed, resume=args.resume,
        perturbation=PerturbationConfig(noise_scale=args.noise_scale))
    s = generate(cfg, progress=not args.quiet)
    print(f"{cfg.task}: wrote {s['shards_written']} of {s['shards_total']} shards to {cfg.out} "
          f"({s['episodes']} episodes, {s['bytes'] / 1e6:.1f} MB); success: demos {s['demo_success']}/{s['demos']}, "
          f"perturbed {s['perturbed_success']}/{s['perturbed']}")
    return 0


def _inspect(args) -> int:
    from robo4d_env.data.inspect import contact_sheet, format_summary, summarize
    s = summarize(args.paths)
    print(format_summary(s))
    if args.json:
        print(json.dumps({k: v for k, v in s.items() if k != "episode_list"}, indent=2, default=str))
    if args.episodes > 0:
        path, chosen = contact_sheet(s, args.video, n_episodes=args.episodes, camera=args.camera,
                                     n_frames=args.frames, upscale=args.upscale)
        rows = ", ".join(f"{e['name']} ({'perturbed' if e['perturbation'].get('type') != 'none' else 'demo'}, "
                         f"{'success' if e['success'] else 'failure'})" for e in chosen)
        print(f"wrote {path}: rows top to bottom {rows}; columns RGB | depth | robot overlay")
    return 0


def _subset(args) -> int:
    from robo4d_env.data.subset import subset
    print(f"wrote {subset(args.paths, args.episodes, args.out)}")
    return 0


def add_parser(subparsers) -> None:
    data = subparsers.add_parser("data", help="generate and inspect Robo4D 4D episode datasets")
    sub = data.add_subparsers(dest="data_command", required=True)
    d = GenerateConfig()

    g = sub.add_parser("generate", help="roll out experts + synthesized failures into HDF5 shards",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g.add_argument("--task", default=d.task)
    g.add_argument("--episodes", type=int, default=d.episodes, help="expert demos (env seeds)")
    g.add_argument("--out", default=d.out, help="output directory of shards")
    g.add_argument("--seed", type=int, default=None, help="first env seed (default: start of --split)")
    g.add_argument("--split", choices=("train", "eval"), default="train",
                   help="seed range: train from 0, eval from 10000")
    g.add_argument("--workers", type=int, default=d.workers, help="parallel processes, one env each")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run: skip complete shards")
    g.add_argument("--resolution", type=int, default=d.resolution)
    g.add_argument("--perturbed-per-demo", type=int, default=d.perturbed_per_demo,
                   help="failure-synthesis replays per successful demo (9 = 3 segments x 3 sigmas)")
    g.add_argument("--noise-scale", type=float, default=PerturbationConfig.noise_scale,
                   help="perturbation noise relative to the ee_delta action scale")
    g.add_argument("--episodes-per-shard", type=int, default=d.episodes_per_shard,
                   help="demos per shard, each with its perturbed replays")
    g.add_argument("--clip-frames", type=int, default=d.clip_frames, help="clip length recorded for loaders")
    g.add_argument("--extra-cameras", type=int, default=d.extra_cameras, help="shell-sampled extra views")
    g.add_argument("--randomize", action=argparse.BooleanOptionalAction, default=d.randomize,
                   help="procedural colours and lighting per seed")
    g.add_argument("--camera-jitter-m", type=float, default=d.camera_jitter_m)
    g.add_argument("--max-steps", type=int, default=None, help="episode horizon (default: the task's)")
    g.add_argument("--run-to-horizon", action="store_true",
                   help="do not stop at success: every episode lasts --max-steps (long eval clips)")
    g.add_argument("--robot-pointmap", dest="robot_pointmap_from", default=d.robot_pointmap_from,
                   choices=("commanded", "measured", "measured_fingers"),
                   help="robot state drawn in the robot pointmap; measured_fingers (commanded arm, fingers as "
                        "the object stopped them) is what grasp-aware world models train on")
    g.add_argument("--perturb-failed", action="store_true", help="also perturb failed demos")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_generate)

    i = sub.add_parser("inspect", help="summarize shards and write an mp4 contact sheet",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    i.add_argument("paths", nargs="+", help="shard files or directories")
    i.add_argument("--video", default="robo4d_contact_sheet.mp4")
    i.add_argument("--episodes", type=int, default=4, help="rows of the contact sheet (0: no video)")
    i.add_argument("--camera", default="main")
    i.add_argument("--frames", type=int, default=33, help="frames per episode strip")
    i.add_argument("--upscale", type=int, default=3)
    i.add_argument("--json", action="store_true", help="also print the summary as JSON")
    i.set_defaults(func=_inspect)

    s = sub.add_parser("subset", help="copy the first N episodes of shards into one small shard")
    s.add_argument("paths", nargs="+", help="shard files or directories")
    s.add_argument("--episodes", type=int, required=True)
    s.add_argument("--out", required=True, help="output directory")
    s.set_defaults(func=_subset)
