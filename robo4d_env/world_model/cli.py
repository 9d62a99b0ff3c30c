"""`robo4d train` / `train-vae` / `train-refiner` / `swap-vae`: the world-model sub-commands of the main CLI."""
from __future__ import annotations


def add_parser(subparsers) -> None:
    """Register ``robo4d train`` (the DiT) and ``robo4d train-vae`` (the VAE stage) on a sub-parser set."""
    from robo4d_env.world_model import refiner_training, swap_vae, train, vae_training

    p = subparsers.add_parser("train", help="train the Kinema4D world model (accelerate; resumable)")
    train.add_arguments(p)
    p.set_defaults(func=train.run)
    p = subparsers.add_parser("train-vae", help="train the world model's VAE on RGB + XYZ clips (resumable)")
    vae_training.add_arguments(p)
    p.set_defaults(func=vae_training.run)
    p = subparsers.add_parser("train-refiner", help="train a world model's robot refiner on its own rollouts")
    refiner_training.add_arguments(p)
    p.set_defaults(func=refiner_training.run)
    p = subparsers.add_parser("swap-vae", help="give a trained world model a decoder-only fine-tuned VAE")
    swap_vae.add_arguments(p)
    p.set_defaults(func=swap_vae.run)
    p = subparsers.add_parser("export-vae", help="write the VAE inside a world model as a VAE directory")
    swap_vae.add_export_arguments(p)
    p.set_defaults(func=swap_vae.run_export)
