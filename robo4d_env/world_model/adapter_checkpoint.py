"""LoRA fine-tunes of a pretrained Wan2.1 DiT, stored as what training changed plus the base they need.

At the paper's scale a full ``save_pretrained`` writes the 16.4B-parameter DiT (33 GB in bf16 shards, 66 GB
in fp32) for every copy, and a training checkpoint holds two copies (weights and EMA weights). Measured on
an H200 machine with a 64 GB disk, the first checkpoint could not have been written. What training changes
is small: the LoRA adapters and our new conditioning modules (210M parameters at rank 64).

Layout of such a directory: ``config.json`` (the world-model config, as ``save_pretrained`` writes it, so
preset and resolution checks read it alike), ``trainable.safetensors`` (every parameter with
``requires_grad``) and ``base_model.json`` ({"pretrained": absolute path of the local Wan2.1 directory}).
``load_world_model`` recognises it and rebuilds the model from the base, then loads the trainable weights.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robo4d_env.world_model.configuration_world_model import WorldModelConfig

TRAINABLE_FILE = "trainable.safetensors"
BASE_FILE = "base_model.json"


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / BASE_FILE).exists()


def save_adapter(model, path: str | Path, pretrained: str | Path) -> None:
    """Write ``model``'s config, its trainable parameters and the path of its base into ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_config(path)
    save_file({n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad},
              path / TRAINABLE_FILE)
    (path / BASE_FILE).write_text(json.dumps({"pretrained": str(Path(pretrained).resolve())}))


def load_trainable(model, path: str | Path) -> None:
    """Load ``path``'s trainable weights into ``model`` (built from the same base and config); the names must
    be exactly the model's trainable parameters."""
    path = Path(path)
    try:
        state = load_file(path / TRAINABLE_FILE)
    except (OSError, SafetensorError) as e:     # missing or truncated safetensors
        raise ValueError(f"{path / TRAINABLE_FILE} could not be read ({e}); re-copy the fine-tune directory, or "
                         f"train it again with `robo4d train --pretrained <Wan2.1 dir>`") from e
    want = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != want:
        missing, extra = sorted(want - set(state))[:3], sorted(set(state) - want)[:3]
        raise ValueError(f"{path / TRAINABLE_FILE} does not match this model's trainable parameters (missing "
                         f"{missing}, unexpected {extra}): it was written for another preset or LoRA rank")
    model.load_state_dict(state, strict=False)


def load_adapter_model(path: str | Path, config: dict, base_dtype: torch.dtype | None = None):
    """The world model of an adapter directory: ``from_wan_pretrained`` of its base + its trainable weights."""
    from robo4d_env.world_model.pretrained import from_wan_pretrained

    path = Path(path)
    base = Path(json.loads((path / BASE_FILE).read_text())["pretrained"])
    if not base.exists():
        raise FileNotFoundError(f"{path} is a LoRA fine-tune of the Wan2.1 directory {base}, which is missing: "
                                f"put that directory back, or write its new location into {path / BASE_FILE}")
    names = {f.name for f in dataclasses.fields(WorldModelConfig)}
    cfg = WorldModelConfig(**{k: v for k, v in config.items() if k in names})
    model = from_wan_pretrained(base, cfg, base_dtype)
    load_trainable(model, path)
    return model
