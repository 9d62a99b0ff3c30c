"""The paper-scale path: a Wan2.1-I2V transformer + VAE from a LOCAL diffusers directory, with LoRA (peft).

Expected layout (that of ``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers``, fetched by the user beforehand):
``<path>/transformer/{config.json, *.safetensors}`` and ``<path>/vae/{config.json, *.safetensors}``.
Nothing is downloaded: ``from_pretrained`` runs with ``local_files_only=True``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from diffusers.training_utils import cast_training_params

from robo4d_env.world_model.configuration_world_model import WorldModelConfig
from robo4d_env.world_model.fast_norm import use_fast_rms_norm
from robo4d_env.world_model.modeling_world_model import Kinema4DWorldModel, transformer_kwargs

# The DiT fields a pretrained transformer must share with the config (the rest are ours).
ARCH_KEYS = ("patch_size", "num_attention_heads", "attention_head_dim", "in_channels", "out_channels",
             "text_dim", "ffn_dim", "num_layers", "image_dim", "added_kv_proj_dim")


def _subdir(path: Path, name: str) -> Path:
    """``path/name`` when present (a full pipeline directory), else ``path`` itself."""
    sub = path / name
    if not (sub / "config.json").exists() and not (path / "config.json").exists():
        raise FileNotFoundError(f"no {name} at {path}: expected {sub}/config.json (diffusers layout of "
                                f"Wan2.1-I2V-14B-480P-Diffusers, downloaded beforehand; nothing is fetched)")
    return sub if (sub / "config.json").exists() else path


def check_architecture(transformer: WanTransformer3DModel, cfg: WorldModelConfig, source: Path) -> None:
    """Raise naming the mismatching fields when a loaded DiT does not match the config."""
    want = transformer_kwargs(cfg)
    have = transformer.config
    bad = {k: (have[k], want[k]) for k in ARCH_KEYS
           if (list(have[k]) if isinstance(have[k], (list, tuple)) else have[k])
           != (list(want[k]) if isinstance(want[k], (list, tuple)) else want[k])}
    if bad:
        rows = ", ".join(f"{k}: file {h!r} vs config {w!r}" for k, (h, w) in bad.items())
        raise ValueError(f"{source}/config.json does not match preset {cfg.preset!r}: {rows}")


def load_wan_transformer(path: str | Path, cfg: WorldModelConfig,
                         dtype: torch.dtype | None = None) -> WanTransformer3DModel:
    """The pretrained DiT from a local directory, checked against the config (weights in ``dtype``;
    None: as diffusers loads them, float32)."""
    src = _subdir(Path(path), "transformer")
    transformer = WanTransformer3DModel.from_pretrained(src, local_files_only=True, torch_dtype=dtype)
    check_architecture(transformer, cfg, src)
    return transformer


def load_wan_vae(path: str | Path, cfg: WorldModelConfig) -> AutoencoderKLWan:
    """The pretrained Wan VAE from a local directory; its z_dim must equal the config's."""
    src = _subdir(Path(path), "vae")
    vae = use_fast_rms_norm(AutoencoderKLWan.from_pretrained(src, local_files_only=True))
    if vae.config.z_dim != cfg.vae_z_dim:
        raise ValueError(f"{src}/config.json has z_dim={vae.config.z_dim}, preset {cfg.preset!r} expects "
                         f"{cfg.vae_z_dim}")
    return vae


def add_lora(transformer: WanTransformer3DModel, cfg: WorldModelConfig) -> WanTransformer3DModel:
    """Freeze the DiT and add peft LoRA adapters (rank ``cfg.lora_rank``) on ``cfg.lora_target_modules``
    (Wan's attention projections). Only the adapters train afterwards."""
    from peft import LoraConfig

    if not cfg.lora_rank:
        raise ValueError(f"preset {cfg.preset!r} has no lora_rank")
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha or cfg.lora_rank,
                                       init_lora_weights=True, target_modules=list(cfg.lora_target_modules)))
    cast_training_params(transformer, dtype=torch.float32)    # adapters train in fp32 on a bf16 base
    return transformer


def from_wan_pretrained(path: str | Path, cfg: WorldModelConfig,
                        base_dtype: torch.dtype | None = None) -> Kinema4DWorldModel:
    """The world model around a pretrained Wan2.1-I2V transformer + VAE from a local directory.

    The DiT is frozen with LoRA adapters; the VAE is frozen; our new conditioning modules
    (robot-token projection, domain embeddings, null image context) train in full, in float32.
    ``base_dtype`` (e.g. torch.bfloat16 for bf16 training): the frozen DiT weights' dtype, which halves
    the 14B model's memory (56 -> 28 GB). The model is built on the meta device first so that 14B
    random weights are never materialised.
    """
    with init_empty_weights():
        model = Kinema4DWorldModel.from_world_model_config(cfg)
    model.vae = load_wan_vae(path, cfg)
    model.vae.requires_grad_(False)
    model.attach_transformer(add_lora(load_wan_transformer(path, cfg, base_dtype), cfg))
    _materialise_new_modules(model)
    return model


def _materialise_new_modules(model: Kinema4DWorldModel) -> None:
    """Re-create on CPU the small new modules that ``init_empty_weights`` left on the meta device."""
    fresh = Kinema4DWorldModel.new_modules(model.wm)
    for name, module in fresh.items():
        setattr(model, name, module)


def trainable_parameter_names(model) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]
