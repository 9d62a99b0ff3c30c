"""`robo4d swap-vae` / `robo4d export-vae`: give a trained world model a fine-tuned VAE decoder, keeping its DiT.

The DiT generates VAE latents, so it stays valid as long as the ENCODER (what made its training latents)
is unchanged. ``robo4d train-vae --decoder-only --init-vae <the model's VAE>`` trains only the decoder;
this command checks that the encoder is bit-identical, installs the new decoder and writes a new model
directory. The robot refiner is not copied: it learned to correct the old decoder's frames, so retrain it
with ``robo4d train-refiner --model <out>``.

    robo4d export-vae --model assets/world_model/lift --out out/lift_vae      # the VAE inside a model
    robo4d train-vae --init-vae out/lift_vae --decoder-only ... --out out/vae_dec
    robo4d swap-vae --model assets/world_model/lift --vae out/vae_dec/vae --out out/lift_newdec
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

# AutoencoderKLWan parts that make the latents (must match) and that read them (replaced).
ENCODER_PREFIXES = ("encoder.", "quant_conv.")
DECODER_PREFIXES = ("decoder.", "post_quant_conv.")


def _contiguous(vae) -> None:
    """Plain-layout conv weights for saving (``load_world_model`` stores them channels-last)."""
    for module in vae.modules():
        if isinstance(module, torch.nn.Conv3d):
            module.weight.data = module.weight.data.contiguous()


def swap_vae_decoder(model_dir: str | Path, vae_dir: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir``: the world model of ``model_dir`` with the decoder of the VAE in ``vae_dir``."""
    from diffusers import AutoencoderKLWan

    from robo4d_env.world_model.modeling_world_model import load_world_model
    from robo4d_env.world_model.train import atomic_dir

    if not (Path(vae_dir) / "config.json").exists():
        raise FileNotFoundError(f"no VAE at {vae_dir} (missing config.json); make one with `robo4d train-vae "
                                f"--decoder-only --init-vae <robo4d export-vae of {model_dir}> ...`, whose "
                                f"<out>/vae is written when training ends")
    model = load_world_model(model_dir)
    new = AutoencoderKLWan.from_pretrained(Path(vae_dir), local_files_only=True).state_dict()
    old = model.vae.state_dict()
    if set(new) != set(old):
        raise ValueError(f"{vae_dir} is not the same VAE architecture as the one in {model_dir} "
                         f"(parameter names differ); fine-tune from {model_dir}'s own VAE")
    changed = [k for k in old if k.startswith(ENCODER_PREFIXES) and not torch.equal(old[k], new[k].to(old[k].dtype))]
    if changed:
        raise ValueError(f"{vae_dir}'s encoder differs from {model_dir}'s ({len(changed)} tensors, e.g. "
                         f"{changed[0]}): the DiT was trained on the old latents. Fine-tune with "
                         f"`robo4d train-vae --decoder-only --init-vae <that VAE>`, or retrain the DiT with "
                         f"`robo4d train --vae {vae_dir}`")
    model.vae.load_state_dict({k: new[k] if k.startswith(DECODER_PREFIXES) else v for k, v in old.items()})
    model.attach_robot_refiner(None)
    _contiguous(model.vae)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        cfg_file = tmp / model.config_name
        cfg = json.loads(cfg_file.read_text())
        cfg.pop("_name_or_path", None)         # diffusers records the source path; the copy should not depend on it
        cfg_file.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    return atomic_dir(Path(out_dir), write)


def export_vae(model_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the VAE inside a world model as a diffusers ``AutoencoderKLWan`` directory (safetensors), with
    the model's latent statistics, so that ``robo4d train-vae --init-vae`` can fine-tune it."""
    from robo4d_env.world_model.modeling_world_model import load_world_model
    from robo4d_env.world_model.vae_training import save_vae

    model = load_world_model(model_dir)
    _contiguous(model.vae)
    stats = {k: getattr(model.wm, k) for k in ("rgb_latent_mean", "rgb_latent_std", "xyz_latent_mean",
                                              "xyz_latent_std")}
    save_vae(model.vae, Path(out_dir), stats)
    return Path(out_dir)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="trained world-model directory (its DiT is kept)")
    p.add_argument("--vae", required=True, help="VAE directory from `robo4d train-vae --decoder-only`")
    p.add_argument("--out", required=True, help="new world-model directory")


def run(args: argparse.Namespace) -> int:
    out = swap_vae_decoder(args.model, args.vae, args.out)
    print(f"wrote {out}; retrain its robot refiner with: robo4d train-refiner --model {out} --data <training data>")
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="world-model directory")
    p.add_argument("--out", required=True, help="VAE directory to write")


def run_export(args: argparse.Namespace) -> int:
    print(f"wrote {export_vae(args.model, args.out)}")
    return 0
