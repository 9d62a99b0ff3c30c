"""`robo4d train ...`: registers the world-model training sub-command on the main CLI."""
from __future__ import annotations


def add_parser(subparsers) -> None:
    """Register ``robo4d train --preset ... --data ... --out ...`` on an argparse sub-parser set."""
    from robo4d_env.world_model.train import add_arguments, run

    p = subparsers.add_parser("train", help="train the Kinema4D world model (accelerate; resumable)")
    add_arguments(p)
    p.set_defaults(func=run)
