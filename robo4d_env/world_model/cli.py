"""`robo4d train` / `train-vae` / `train-refiner` / `swap-vae` / `export-vae`: the world-model sub-commands."""
from __future__ import annotations


def add_parser(subparsers) -> None:
    """Register the world-model sub-commands on the main CLI's sub-parser set."""
    from robo4d_env.world_model import refiner_training, swap_vae, train, vae_training

    commands = (  # name, help, add-arguments, run
        ("train", "train the Kinema4D world model (accelerate; resumable)", train.add_arguments, train.run),
        ("train-vae", "train the world model's VAE on RGB + XYZ clips (resumable)",
         vae_training.add_arguments, vae_training.run),
        ("train-refiner", "train a world model's robot refiner on its own rollouts",
         refiner_training.add_arguments, refiner_training.run),
        ("swap-vae", "give a trained world model a decoder-only fine-tuned VAE", swap_vae.add_arguments, swap_vae.run),
        ("export-vae", "write the VAE inside a world model as a VAE directory",
         swap_vae.add_export_arguments, swap_vae.run_export),
    )
    for name, help_text, add_arguments, run in commands:
        p = subparsers.add_parser(name, help=help_text)
        add_arguments(p)
        p.set_defaults(func=run)
