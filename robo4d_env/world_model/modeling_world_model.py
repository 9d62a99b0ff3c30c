"""Kinema4D world model on diffusers (Kinema4D §3.2, supp. B.1): ``AutoencoderKLWan`` + ``WanTransformer3DModel``.

Layout of one chunk of ``F = frames_per_chunk`` frames (``c = context_frames`` known, the rest generated):

* RGB and the world XYZ pointmap (normalised to [-1, 1] like an image) are encoded by the SAME VAE and
  their latents placed side by side along width: ``x0 = [rgb | xyz]`` of shape (B, z, f, h, 2w).
* The DiT input is the channel concat (Wan I2V order) ``[noisy x_s (z), mask (4), condition (z)]``:
  - mask: per pixel 1 = given (all context frames, and the robot's pixels — soft during training),
    0 = to generate; area-pooled to latent resolution, 4 frames packed per latent frame as Wan I2V does.
  - condition: the clean context latents in the first ``1 + (c-1)/4`` latent frames; later latent frames
    hold zeros in the RGB half and the ROBOT pointmap latents in the XYZ half (the paper's
    ``[I_0 zero-padded | M_robot]``); with ``future_condition="last_context"`` the RGB half holds the last
    context latent frame instead (a copy-forward prior).
* The robot pointmap latents are also the cross-attention tokens, in place of Wan's T5 text, through a
  zero-initialised projection (so a pretrained Wan starts from its unconditioned behaviour).
* RGB and XYZ tokens share RoPE positions (``SharedRotaryPosEmbed``) and get learnable domain embeddings.

Ablations (``benchmarks.world_model``), same DiT and training: ``robot_condition="action"`` replaces every
robot-pointmap input by per-frame joint_pos action vectors embedded as the cross-attention tokens
(IRASim/Ctrl-World style; no robot pixels in the mask or condition); ``predict_pointmap=False`` drops
the XYZ half (RGB-only output; the robot pointmap latents then sit in the condition's only half).

Frames: pointmaps are world frame, metres; images (..., H, W, 3) uint8 at the API boundary and
(B, 3, T, H, W) in [-1, 1] inside.
"""
from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from diffusers.utils.torch_utils import randn_tensor
import torch.nn.functional as F
from torch import nn

from accelerate.utils import send_to_device
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

from robo4d_env.projection import pixel_rays_world, scale_intrinsics, snap_to_rays, soft_robot_mask
from robo4d_env.world_model.configuration_world_model import WorldModelConfig
from robo4d_env.world_model.contact_region import contact_region
from robo4d_env.world_model.occlusion_memory import OcclusionMemory
from robo4d_env.world_model.robot_refiner import load_robot_refiner
from robo4d_env.world_model.fast_norm import use_fast_rms_norm
from robo4d_env.world_model.windows import rollout_window_indices

NUM_DOMAINS = 2            # RGB, XYZ
RGB, XYZ = 0, 1


class CheckpointMismatchError(ValueError):
    """A checkpoint's preset or resolution differs from the one asked for."""


class NonFiniteLossError(FloatingPointError, ValueError):
    """The training loss became NaN or infinite."""


# --------------------------------------------------------------------------------------- RoPE
class SharedRotaryPosEmbed(WanRotaryPosEmbed):
    """Wan's 3-axis RoPE for a width axis holding ``num_domains`` side-by-side copies of one image.

    Wan computes positions from the latent grid, so the XYZ half would get widths w..2w-1. We compute
    the table for one half (width w) and repeat it, so pixel (t, i, j) of RGB and of XYZ get the same
    rotation (Kinema4D §3.2 "shared RoPE"). No parameters: a drop-in for ``transformer.rope``.
    """

    def __init__(self, attention_head_dim: int, patch_size, max_seq_len: int, num_domains: int = NUM_DOMAINS):
        super().__init__(attention_head_dim, tuple(patch_size), max_seq_len)
        self.num_domains = num_domains

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden_states (B, C, F, H, W·domains) -> (cos, sin), each (1, F'·H'·W'·domains, 1, head_dim)."""
        _, _, n_f, n_h, n_w = hidden_states.shape
        half = hidden_states[..., : n_w // self.num_domains]
        p_t, p_h, p_w = self.patch_size
        grid = (n_f // p_t, n_h // p_h, n_w // self.num_domains // p_w)
        return tuple(self._repeat_width(x, grid) for x in super().forward(half))

    def _repeat_width(self, table: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        # Tokens are flattened (t, h, w) with w fastest, so repeating along w = [RGB row | XYZ row].
        x = table.reshape(*grid, -1).repeat(1, 1, self.num_domains, 1)
        return x.reshape(1, -1, 1, x.shape[-1])


# --------------------------------------------------------------------------------------- builders
def build_vae(cfg: WorldModelConfig) -> AutoencoderKLWan:
    """A randomly initialised Wan video VAE with the config's dims (latent stats 0/1: ours are in cfg)."""
    return use_fast_rms_norm(AutoencoderKLWan(
        base_dim=cfg.vae_base_dim, z_dim=cfg.vae_z_dim, dim_mult=list(cfg.vae_dim_mult),
        num_res_blocks=cfg.vae_num_res_blocks, temperal_downsample=list(cfg.vae_temporal_downsample),
        latents_mean=[0.0] * cfg.vae_z_dim, latents_std=[1.0] * cfg.vae_z_dim,
    ))


def transformer_kwargs(cfg: WorldModelConfig) -> dict:
    """``WanTransformer3DModel`` constructor arguments of a config."""
    return dict(
        patch_size=tuple(cfg.patch_size), num_attention_heads=cfg.num_attention_heads,
        attention_head_dim=cfg.attention_head_dim, in_channels=cfg.dit_in_channels, out_channels=cfg.vae_z_dim,
        text_dim=cfg.text_dim, freq_dim=cfg.freq_dim, ffn_dim=cfg.ffn_dim, num_layers=cfg.num_layers,
        cross_attn_norm=cfg.cross_attn_norm, qk_norm=cfg.qk_norm, eps=cfg.eps, image_dim=cfg.image_dim,
        added_kv_proj_dim=cfg.added_kv_proj_dim, rope_max_seq_len=cfg.rope_max_seq_len,
    )


def build_transformer(cfg: WorldModelConfig) -> WanTransformer3DModel:
    return WanTransformer3DModel(**transformer_kwargs(cfg))


def make_scheduler(cfg: WorldModelConfig) -> FlowMatchEulerDiscreteScheduler:
    """The flow-matching Euler sampler Wan uses, with the config's shift. Kept outside the model."""
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=cfg.num_train_timesteps, shift=cfg.flow_shift)


# --------------------------------------------------------------------------------------- pixels
def rgb_to_unit(rgb: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W, 3) uint8 -> (B, 3, T, H, W) float in [-1, 1]."""
    return rgb.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def unit_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) in [-1, 1] -> (B, T, H, W, 3) uint8."""
    return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1)


def pointmap_bounds(cfg: WorldModelConfig, points: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample box (lo, hi), each (B, 3) metres, that maps world XYZ to [0, 1].

    "workspace": the config's fixed box. "minmax" (supp. B.1): the per-axis extremes of ``points``
    (B, N, 3) where ``mask`` (B, N) — the known context pixels and all robot pixels, which is what a
    rollout also knows, so training and inference normalise alike."""
    B = points.shape[0]
    if cfg.pointmap_norm == "workspace":
        lo = torch.tensor(cfg.workspace_min, dtype=torch.float32, device=points.device).expand(B, 3)
        hi = torch.tensor(cfg.workspace_max, dtype=torch.float32, device=points.device).expand(B, 3)
        return lo, hi
    big = torch.finfo(torch.float32).max
    m = mask.unsqueeze(-1)
    lo = torch.where(m, points, big).amin(1)
    hi = torch.where(m, points, -big).amax(1)
    empty = ~mask.any(1, keepdim=True)
    lo = torch.where(empty, torch.tensor(cfg.workspace_min, device=points.device), lo)
    hi = torch.where(empty, torch.tensor(cfg.workspace_max, device=points.device), hi)
    return lo, torch.maximum(hi, lo + cfg.minmax_eps)


def pointmap_to_unit(pm: torch.Tensor, mask: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """World pointmap (B, T, H, W, 3) metres + mask (B, T, H, W) -> (B, 3, T, H, W) in [-1, 1].
    Pixels outside the mask (no surface / not robot) read -1, like black."""
    x = (pm - lo[:, None, None, None]) / (hi - lo)[:, None, None, None]
    x = torch.where(mask.unsqueeze(-1), x.clamp(0, 1), torch.zeros_like(x))
    return (x * 2.0 - 1.0).permute(0, 4, 1, 2, 3)


def unit_to_pointmap(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) in [-1, 1] -> world pointmap (B, T, H, W, 3) float32 metres."""
    u = ((x.float().clamp(-1, 1) + 1.0) / 2.0).permute(0, 2, 3, 4, 1)
    return u * (hi - lo)[:, None, None, None] + lo[:, None, None, None]


def pack_mask(mask: torch.Tensor, spatial: int, temporal: int, unshuffle: bool = False) -> torch.Tensor:
    """Pixel mask (B, T, H, W) float, T = 1 + temporal·k -> (B, temporal·c, 1 + k, H/spatial, W/spatial),
    c = 1 (area pooling) or spatial² (``unshuffle``: space-to-depth, every pixel kept as a channel).

    Area pooling keeps soft values as occupancy fractions. The first frame is repeated ``temporal``
    times so every latent frame gets ``temporal`` frames' masks, exactly Wan I2V's mask packing."""
    B, T, H, W = mask.shape
    x = mask.reshape(B * T, 1, H, W)
    m = F.pixel_unshuffle(x, spatial) if unshuffle else F.avg_pool2d(x, spatial)
    c, h, w = m.shape[1:]
    m = m.reshape(B, T, c, h, w)
    m = torch.cat([m[:, :1].repeat(1, temporal, 1, 1, 1), m[:, 1:]], dim=1)
    return m.reshape(B, -1, temporal * c, h, w).transpose(1, 2)


def resize_video(x: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """(B, T, H, W, ...) -> (B, T, height, width, ...); a no-op at the right size."""
    if x.shape[2:4] == (height, width):
        return x
    B, T, H, W = x.shape[:4]
    tail = x.shape[4:]
    y = x.reshape(B * T, H, W, -1).permute(0, 3, 1, 2).float()
    y = F.interpolate(y, size=(height, width), mode=mode)
    y = y.permute(0, 2, 3, 1).reshape(B, T, height, width, *tail)
    return y.round().to(x.dtype) if not x.dtype.is_floating_point else y.to(x.dtype)


def num_training_windows(cfg: WorldModelConfig) -> int:
    """How many distinct training windows one clip holds (the latent cache stores each)."""
    return cfg.clip_frames - cfg.frames_per_chunk + 1


def window_indices(cfg: WorldModelConfig, start: int) -> torch.Tensor:
    """(frames_per_chunk,) clip-frame indices of training window ``start`` (0 <= start < num_training_windows).

    With context_frames > 1, frame 0 is the clip's first frame (the rollout's memory frame) and the
    rest the contiguous run after ``start``; with context_frames == 1 the run starts at ``start``."""
    n = cfg.frames_per_chunk
    if cfg.context_frames == 1:
        return torch.arange(start, start + n)
    return torch.cat([torch.zeros(1, dtype=torch.long), torch.arange(start + 1, start + n)])


def training_window_indices(cfg: WorldModelConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """(frames_per_chunk,) clip-frame indices of a random training window, matching what a rollout sees."""
    s = int(torch.randint(0, num_training_windows(cfg), (1,), generator=generator))
    return window_indices(cfg, s)


def uniform(shape: tuple, generator: torch.Generator | None, device) -> torch.Tensor:
    """U[0, 1) samples drawn on the generator's device (CPU for a CPU generator), then moved to ``device``:
    a seed gives the same numbers whatever device the model runs on (as diffusers' ``randn_tensor``)."""
    draw_on = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=draw_on).to(device)


def action_vectors(q_cmd: torch.Tensor, finger_cmd: torch.Tensor) -> torch.Tensor:
    """Commanded joints (..., 7) rad + finger opening (...,) m -> joint_pos action vectors (..., 8)."""
    return torch.cat([q_cmd.float(), finger_cmd.float().unsqueeze(-1)], dim=-1)


def rollout_episodes(model: "Kinema4DWorldModel", eps: list[dict], T: int, generator, **rollout_kwargs) -> dict:
    """One batched rollout from frame 0 of every episode (dataset items with >= T + 1 frames, world-frame
    pointmaps, as ``Robo4DDataset.frames`` gives them) over their next T frames, the robot and camera taken
    from the episodes (and the tool-centre points from ``tcp_world`` (T + 1, 3), when every episode has it).
    ``rollout_kwargs`` go to ``Kinema4DWorldModel.rollout``; returns its (B, T, ...) dict."""
    st = lambda k, sl: torch.stack([e[k][sl] for e in eps])  # noqa: E731
    first, future = slice(0, 1), slice(1, T + 1)
    if all("tcp_world" in e for e in eps):     # for ghost removal (``occlusion_memory``)
        rollout_kwargs = {"tcp_world": st("tcp_world", future), **rollout_kwargs}
    if model.wm.robot_condition == "action":
        a = torch.stack([action_vectors(e["q_cmd"], e["finger_cmd"]) for e in eps])
        rollout_kwargs = {"context_actions": a[:, first], "actions": a[:, future], **rollout_kwargs}
    return model.rollout(st("rgb", first), st("pointmap", first), st("robot_pointmap", future), st("robot_mask", future),
                         context_valid=st("valid", first), context_robot_pointmap=st("robot_pointmap", first),
                         context_robot_mask=st("robot_mask", first), generator=generator,
                         camera_K=torch.stack([e["K"] for e in eps]),
                         T_world_cam=torch.stack([e["T_world_cam"] for e in eps]), **rollout_kwargs)


@dataclass
class ChunkInputs:
    """DiT conditioning of one chunk, all latent resolution: cond (B, z, f, h, D·w), mask (B, 4, f, h, D·w)
    (D = 2 domains, 1 for RGB-only); robot_latents (B, z, f, h, w) normalised (pointmap condition) or
    actions (B, frames_per_chunk, action_dim) (action condition)."""
    cond: torch.Tensor
    mask: torch.Tensor
    robot_latents: torch.Tensor | None = None
    actions: torch.Tensor | None = None


# --------------------------------------------------------------------------------------- model
def _config_signature() -> inspect.Signature:
    """``__init__``'s signature = the fields of ``WorldModelConfig``: diffusers' ConfigMixin reads the
    config keys from the signature, and this keeps the dataclass the single list of fields."""
    default = WorldModelConfig()
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=getattr(default, f.name))
               for f in fields(WorldModelConfig)]
    return inspect.Signature(params)


class Kinema4DWorldModel(ModelMixin, ConfigMixin):
    """VAE + DiT world model: context frames + robot pointmaps -> next RGB and world-pointmap frames.

    Build with ``Kinema4DWorldModel.from_world_model_config(get_preset("tiny")[0])``; save and load
    with ``save_pretrained`` / ``from_pretrained`` (safetensors) or ``load_world_model`` (checks preset).
    The VAE is frozen; the DiT, the robot-token projection and the domain embeddings train.
    """

    config_name = "config.json"
    _supports_gradient_checkpointing = True

    def _init(self, **kwargs):
        super().__init__()
        self.wm = WorldModelConfig.from_dict(kwargs)
        self.vae = build_vae(self.wm)
        self.vae.requires_grad_(False)
        self.attach_transformer(build_transformer(self.wm))
        for name, module in self.new_modules(self.wm).items():
            setattr(self, name, module)
        self.attach_robot_refiner(None)

    def attach_robot_refiner(self, refiner) -> None:
        """Use ``refiner`` (a ``RobotRefiner``, or None) in rollouts. It is its own checkpoint
        (``<model>/robot_refiner``), kept out of this module's state dict so that the world-model weights
        load and save the same with or without one."""
        self.__dict__["robot_refiner"] = refiner

    def vae_channels_last(self) -> "Kinema4DWorldModel":
        """Store the VAE's 3D conv weights channels-last: the same outputs (to float rounding; identical
        uint8 frames), 5-10% faster rollouts on CPU, where encode and decode are ~60% of a chunk
        (README, "Env speed"). Saving still writes the same safetensors."""
        for module in self.vae.modules():
            if isinstance(module, nn.Conv3d):
                module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last_3d)
        return self

    @staticmethod
    def new_modules(cfg: WorldModelConfig) -> dict:
        """The modules Kinema4D adds around Wan (all trainable): robot-token projection (or, for the
        action baseline, an action MLP + per-frame embedding), domain embeddings and, for Wan I2V, a
        null image context."""
        inner = cfg.num_attention_heads * cfg.attention_head_dim
        out = {"domain_embedding": nn.Parameter(torch.randn(NUM_DOMAINS, inner) * cfg.domain_embedding_init_std)}
        if cfg.robot_condition == "action":
            last = nn.Linear(cfg.text_dim, cfg.text_dim)
            out["action_proj"] = nn.Sequential(nn.Linear(cfg.action_dim, cfg.text_dim), nn.SiLU(), last)
            # cross-attention has no positions: a learned embedding says which frame a token belongs to
            out["action_frame_embedding"] = nn.Parameter(
                torch.randn(cfg.frames_per_chunk, cfg.text_dim) * cfg.domain_embedding_init_std)
        else:
            last = out["robot_proj"] = nn.Linear(cfg.vae_z_dim, cfg.text_dim)
        nn.init.zeros_(last.weight)             # zero-init: the robot path starts silent (ControlNet-style)
        nn.init.zeros_(last.bias)
        if cfg.image_dim is not None:
            # Wan I2V cross-attends to CLIP image tokens; we have no CLIP, so a learned null context.
            out["null_image_embeds"] = nn.Parameter(torch.zeros(cfg.image_seq_len, cfg.image_dim))
        return out

    _init.__signature__ = _config_signature()
    __init__ = register_to_config(_init)
    del _init

    @classmethod
    def from_world_model_config(cls, cfg: WorldModelConfig) -> "Kinema4DWorldModel":
        return cls(**cfg.to_dict())

    @property
    def n_domains(self) -> int:
        """Side-by-side halves of the latent canvas: RGB | XYZ, or RGB alone."""
        return NUM_DOMAINS if self.wm.predict_pointmap else 1

    # ------------------------------------------------------------------ wiring
    def attach_transformer(self, transformer: WanTransformer3DModel) -> None:
        """Install a (possibly pretrained) DiT: shared RoPE for the side-by-side halves, and the
        domain embeddings added right after its patch embedding."""
        c = transformer.config
        transformer.rope = SharedRotaryPosEmbed(c.attention_head_dim, c.patch_size, c.rope_max_seq_len,
                                                self.n_domains)
        transformer.patch_embedding.register_forward_hook(self._add_domain_embedding)
        self.transformer = transformer

    def _add_domain_embedding(self, module, inputs, out: torch.Tensor) -> torch.Tensor:
        """Patch-embedded tokens (B, D, F', H', 2W') + the RGB embedding on the left half, XYZ on the right."""
        n = self.n_domains
        emb = self.domain_embedding[:n].to(out.dtype).repeat_interleave(out.shape[-1] // n, dim=0)  # (nW', D)
        return out + emb.t()[None, :, None, None, :]

    # ------------------------------------------------------------------ latents
    def _latent_stats(self, domain: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.wm.vae_z_dim
        if domain == XYZ:
            mean, std = [self.wm.xyz_latent_mean] * z, [self.wm.xyz_latent_std] * z
        else:
            mean = self.wm.rgb_latent_mean or self.vae.config.latents_mean
            std = self.wm.rgb_latent_std or self.vae.config.latents_std
        shape = (1, z, 1, 1, 1)
        return (torch.tensor(mean, dtype=like.dtype, device=like.device).view(shape),
                torch.tensor(std, dtype=like.dtype, device=like.device).view(shape))

    def encode(self, x: torch.Tensor, domain: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, 3, T, H, W) in [-1, 1] -> normalised latents (N, z, 1 + (T-1)/4, H/8, W/8)."""
        dist = self.vae.encode(x.to(self.vae.dtype)).latent_dist
        z = dist.sample(generator) if self.wm.vae_sample_posterior else dist.mode()
        mean, std = self._latent_stats(domain, z)
        return (z - mean) / std

    def decode(self, z: torch.Tensor, domain: int) -> torch.Tensor:
        """Normalised latents (N, z, f, h, w) -> (N, 3, 1 + 4(f-1), 8h, 8w) in [-1, 1]."""
        mean, std = self._latent_stats(domain, z)
        return self.vae.decode((z * std + mean).to(self.vae.dtype)).sample.clamp(-1, 1)

    def encode_pair(self, rgb_x: torch.Tensor, xyz_x: torch.Tensor) -> torch.Tensor:
        """RGB and XYZ videos (B, 3, T, H, W) in [-1, 1] -> side-by-side latents (B, z, f, h, 2w)
        (RGB-only models: the RGB latents (B, z, f, h, w))."""
        if not self.wm.predict_pointmap:
            return self.encode(rgb_x, RGB)
        return torch.cat([self.encode(rgb_x, RGB), self.encode(xyz_x, XYZ)], dim=-1)

    # ------------------------------------------------------------------ conditioning
    def chunk_inputs(self, ctx_latents: torch.Tensor, robot_x: torch.Tensor, mask_px: torch.Tensor,
                     actions: torch.Tensor | None = None) -> ChunkInputs:
        """Condition latents and packed mask of a chunk.

        ctx_latents (B, z, f_ctx, h, D·w) clean context latents; robot_x (B, 3, F, H, W) robot pointmap
        in [-1, 1]; mask_px (B, F, H, W) float, 1 on context frames and (soft) robot pixels; actions
        (B, F, action_dim) for the action-conditioned model (which never encodes the robot)."""
        robot = None if self.wm.robot_condition == "action" else self.encode(robot_x, XYZ)
        return self.chunk_inputs_from_latents(ctx_latents, robot, mask_px, actions)

    def chunk_inputs_from_latents(self, ctx_latents: torch.Tensor, robot: torch.Tensor | None,
                                  mask_px: torch.Tensor, actions: torch.Tensor | None = None) -> ChunkInputs:
        """``chunk_inputs`` with the robot already encoded: robot (B, z, f, h, w) normalised latents."""
        B, z, n_ctx, h, wd = ctx_latents.shape
        n, w, f = self.n_domains, wd // self.n_domains, self.wm.latent_frames
        cond = torch.zeros(B, z, f, h, wd, dtype=ctx_latents.dtype, device=ctx_latents.device)
        cond[:, :, :n_ctx] = ctx_latents
        if self.wm.future_condition == "last_context":
            cond[:, :, n_ctx:, :, :w] = ctx_latents[:, :, n_ctx - 1:n_ctx, :, :w]
        if self.wm.robot_condition == "action":
            if actions is None:
                raise ValueError("an action-conditioned world model needs per-frame actions (B, F, action_dim)")
            mask_px = mask_px.clone()
            mask_px[:, self.wm.context_frames:] = 0.0     # it is never told where the robot's pixels are
        else:
            cond[:, :, n_ctx:, :, (n - 1) * w:] = robot[:, :, n_ctx:]   # [I_0 zero-padded | M_robot] (§3.2)
        mask = pack_mask(mask_px, self.wm.vae_spatial_factor, self.wm.vae_temporal_factor,
                         unshuffle=self.wm.mask_packing == "unshuffle")
        return ChunkInputs(cond, mask.repeat(1, 1, 1, 1, n).to(cond.dtype), robot, actions)

    @torch.no_grad()
    def null_robot_latents(self, n_frames: int | None = None) -> torch.Tensor:
        """Latents (1, z, f, h, w) of the empty robot pointmap (all -1): what a dropped robot condition
        (CFG dropout) encodes to."""
        n = n_frames or self.wm.frames_per_chunk
        return self.encode(torch.full((1, 3, n, self.wm.height, self.wm.width), -1.0, device=self.device), XYZ)

    def robot_tokens(self, inputs: ChunkInputs) -> torch.Tensor:
        """Robot latents (B, z, f, h, w) -> cross-attention tokens (B, N, text_dim), in place of text
        (action model: actions (B, F, action_dim) -> one token per frame)."""
        if self.wm.robot_condition == "action":
            a = inputs.actions.to(self.action_frame_embedding.dtype)
            tokens = self.action_proj(a) + self.action_frame_embedding[: a.shape[1]]
        else:
            x = inputs.robot_latents
            if self.wm.robot_token_grid is not None:
                x = F.adaptive_avg_pool3d(x, tuple(self.wm.robot_token_grid))
            tokens = self.robot_proj(x.flatten(2).transpose(1, 2).to(self.robot_proj.weight.dtype))
        if self.wm.text_seq_len is None:
            return tokens
        n_pad = self.wm.text_seq_len - tokens.shape[1]
        if n_pad < 0:
            raise ValueError(f"{tokens.shape[1]} robot tokens exceed text_seq_len={self.wm.text_seq_len}; "
                             f"set robot_token_grid to pool them")
        return F.pad(tokens, (0, 0, 0, n_pad))      # zero padding, as Wan pads its T5 context

    def velocity(self, noisy: torch.Tensor, timestep: torch.Tensor, inputs: ChunkInputs) -> torch.Tensor:
        """Flow-matching velocity (eps - x0) predicted for noisy latents (B, z, f, h, 2w); timestep (B,)
        in [0, num_train_timesteps]."""
        dtype = self.transformer.dtype
        hidden = torch.cat([noisy, inputs.mask, inputs.cond], dim=1).to(dtype)
        tokens = self.robot_tokens(inputs).to(dtype)
        image = None
        if self.wm.image_dim is not None:
            image = self.null_image_embeds.to(dtype).expand(noisy.shape[0], -1, -1)
        out = self.transformer(hidden, timestep, encoder_hidden_states=tokens,
                               encoder_hidden_states_image=image, return_dict=False)[0]
        return out.float()

    # ------------------------------------------------------------------ training
    def prepare_batch(self, batch: dict, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ChunkInputs]:
        """Dataset batch (B, F, ...) of one chunk -> (clean latents x0 (B, z, f, h, 2w), ChunkInputs).

        Applies the training-time pieces: robot-condition dropout (CFG), soft robot mask, context noise.
        A batch from the latent cache ({"x0", "robot_latents", "robot_mask", "null_robot"}) skips the VAE."""
        if "x0" in batch:
            return self.prepare_cached_batch(batch, generator)
        cfg = self.wm
        v = {k: resize_video(batch[k], cfg.height, cfg.width, "bilinear" if k == "rgb" else "nearest")
             for k in ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask")}
        B, c = v["rgb"].shape[0], cfg.context_frames
        drop = uniform((B,), generator, self.device) < cfg.robot_cond_dropout
        robot_mask = v["robot_mask"] & ~drop[:, None, None, None]
        lo, hi = self.normalisation_bounds(v["pointmap"][:, :c], v["valid"][:, :c], v["robot_pointmap"],
                                           robot_mask)
        actions = self._batch_actions(batch, drop)
        with torch.no_grad():
            x0 = self.encode_pair(rgb_to_unit(v["rgb"]), pointmap_to_unit(v["pointmap"], v["valid"], lo, hi))
            robot = None
            if self.wm.robot_condition == "pointmap":
                robot = self.encode(pointmap_to_unit(v["robot_pointmap"], robot_mask, lo, hi), XYZ)
            return x0, self._training_inputs(x0, robot, robot_mask, generator, actions)

    def prepare_cached_batch(self, batch: dict,
                             generator: torch.Generator | None = None) -> tuple[torch.Tensor, ChunkInputs]:
        """``prepare_batch`` of cached latents: x0 (B, z, f, h, 2w), robot_latents (B, z, f, h, w) (robot
        not dropped), robot_mask (B, F, H, W) bool, null_robot (B or 1, z, f, h, w); no VAE call.

        Dropout swaps in the null-robot latents, exactly what the fresh path encodes for a dropped robot
        (with ``pointmap_norm="workspace"``; with "minmax" the cache keeps the undropped bounds)."""
        x0, robot, robot_mask = batch["x0"], batch["robot_latents"], batch["robot_mask"].bool()
        if not self.wm.predict_pointmap:       # the cache holds [RGB | XYZ]: keep the RGB half
            x0 = x0[..., : x0.shape[-1] // NUM_DOMAINS]
        B = x0.shape[0]
        drop = uniform((B,), generator, x0.device) < self.wm.robot_cond_dropout
        robot_mask = robot_mask & ~drop[:, None, None, None]
        robot = torch.where(drop.view(B, 1, 1, 1, 1), batch["null_robot"].expand_as(robot), robot)
        actions = self._batch_actions(batch, drop)
        with torch.no_grad():
            return x0, self._training_inputs(x0, robot, robot_mask, generator, actions)

    def _batch_actions(self, batch: dict, drop: torch.Tensor) -> torch.Tensor | None:
        """Action vectors (B, F, action_dim) of an action-conditioned model's batch, zeroed where the
        condition is dropped (CFG); None for the pointmap-conditioned model."""
        if self.wm.robot_condition != "action":
            return None
        if "actions" in batch:
            a = batch["actions"]
        elif "q_cmd" in batch and "finger_cmd" in batch:
            a = action_vectors(batch["q_cmd"], batch["finger_cmd"])
        else:
            raise ValueError("the action-conditioned model trains on q_cmd and finger_cmd, which this batch "
                             "lacks (regenerate the data with `robo4d data generate`, or rebuild the latent cache)")
        return torch.where(drop.view(-1, 1, 1), torch.zeros_like(a), a.float())

    def _training_inputs(self, x0: torch.Tensor, robot: torch.Tensor | None, robot_mask: torch.Tensor,
                         generator: torch.Generator | None, actions: torch.Tensor | None = None) -> ChunkInputs:
        """Noisy context + soft robot mask + condition of a training chunk, from its latents."""
        cfg, B = self.wm, x0.shape[0]
        ctx = x0[:, :, :cfg.context_latent_frames]
        ctx = ctx + randn_tensor(ctx.shape, generator=generator, device=ctx.device) * (
            uniform((B,), generator, ctx.device) * cfg.context_noise_max).view(B, 1, 1, 1, 1)
        mask_px = soft_robot_mask(robot_mask, cfg.soft_mask_fraction, cfg.soft_mask_value, generator)
        mask_px[:, :cfg.context_frames] = 1.0
        return self.chunk_inputs_from_latents(ctx, robot, mask_px, actions)

    def normalisation_bounds(self, ctx_pm, ctx_valid, robot_pm, robot_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """(lo, hi) (B, 3) metres that map the pointmaps to [-1, 1] (``pointmap_bounds``), from the context
        frames' points ctx_pm (B, C, H, W, 3) where ctx_valid, and the robot's robot_pm (B, T, H, W, 3)
        where robot_mask: what training, the latent cache, rollouts and the refiner's pairs all use."""
        B = ctx_pm.shape[0]
        pts = torch.cat([ctx_pm.reshape(B, -1, 3), robot_pm.reshape(B, -1, 3)], dim=1)
        msk = torch.cat([ctx_valid.reshape(B, -1), robot_mask.reshape(B, -1)], dim=1)
        return pointmap_bounds(self.wm, pts, msk)

    def sample_sigmas(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n,) noise levels in (0, 1): uniform, then Wan/SD3's shift (the sampler uses the same shift)."""
        u = uniform((n,), generator, self.device)
        s = self.wm.flow_shift
        return s * u / (1.0 + (s - 1.0) * u)

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """The training loss of a batch (``training_loss``). Training calls the model, not the method, so that
        under ``accelerate launch`` the DDP wrapper sees the forward and all-reduces the gradients."""
        return self.training_loss(batch, generator)

    def training_loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """Flow-matching loss ``|| v_theta(x_s) - (eps - x0) ||^2`` of a dataset batch of one chunk."""
        x0, inputs = self.prepare_batch(send_to_device(batch, self.device), generator)
        sigma = self.sample_sigmas(x0.shape[0], generator).view(-1, 1, 1, 1, 1)
        eps = randn_tensor(x0.shape, generator=generator, device=x0.device)
        noisy = (1.0 - sigma) * x0 + sigma * eps
        pred = self.velocity(noisy, sigma.flatten() * self.wm.num_train_timesteps, inputs)
        if self.wm.region_loss_weight <= 0:
            return F.mse_loss(pred, eps - x0)
        w = self.region_loss_weights(batch["robot_mask"]).expand_as(pred)
        return ((pred - (eps - x0)).pow(2) * w).sum() / w.sum()

    def region_loss_weights(self, robot_mask: torch.Tensor) -> torch.Tensor:
        """Robot mask (B, F, H, W) bool of a chunk -> loss weights (B, 1, f, h, D·w): 1 + region_loss_weight
        on latents whose pixels (any of their frames) touch the mask dilated by region_loss_dilate_px."""
        cfg = self.wm
        m = resize_video(robot_mask.bool(), cfg.height, cfg.width, "nearest").float()
        B, n, H, W = m.shape
        k = cfg.region_loss_dilate_px
        m = F.max_pool2d(m.reshape(B * n, 1, H, W), 2 * k + 1, stride=1, padding=k).reshape(B, n, H, W)
        region = pack_mask(m, cfg.vae_spatial_factor, cfg.vae_temporal_factor).amax(1, keepdim=True) > 0
        w = 1.0 + cfg.region_loss_weight * region.float()
        return w.repeat(1, 1, 1, 1, self.n_domains)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, inputs: ChunkInputs, null_inputs: ChunkInputs | None = None,
               generator: torch.Generator | None = None, num_steps: int | None = None,
               guidance_scale: float | None = None, scheduler=None) -> torch.Tensor:
        """Denoise pure noise into clean latents (B, z, f, h, 2w); deterministic for a seeded generator.
        With guidance_scale > 1 and ``null_inputs`` (the same chunk without the robot), applies CFG."""
        scheduler = scheduler or make_scheduler(self.wm)
        scheduler.set_timesteps(num_steps or self.wm.num_sampling_steps, device=self.device)
        g = self.wm.guidance_scale if guidance_scale is None else guidance_scale
        B, z, f, h, w2 = inputs.cond.shape
        # drawn on the generators' device (CPU), then moved: a seed gives the same noise on every device
        x = randn_tensor((B, z, f, h, w2), generator=generator, device=self.device)   # a list: one per sample
        for t in scheduler.timesteps:
            ts = t.expand(B).float()
            v = self.velocity(x, ts, inputs)
            if g > 1.0 and null_inputs is not None:
                v_null = self.velocity(x, ts, null_inputs)
                v = v_null + g * (v - v_null)
            x = scheduler.step(v, t, x, return_dict=False)[0]
        return x

    def decode_pair(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Side-by-side latents (B, z, f, h, 2w) -> RGB and XYZ videos (B, 3, T, H, W) in [-1, 1]
        (XYZ None for an RGB-only model)."""
        if not self.wm.predict_pointmap:
            return self.decode(x0, RGB), None
        rgb_z, xyz_z = x0.chunk(NUM_DOMAINS, dim=-1)
        return self.decode(rgb_z, RGB), self.decode(xyz_z, XYZ)

    # ------------------------------------------------------------------ rollout
    @torch.no_grad()
    def rollout(self, context_rgb: torch.Tensor, context_pointmap: torch.Tensor, robot_pointmaps: torch.Tensor,
                robot_masks: torch.Tensor, context_valid: torch.Tensor | None = None,
                context_robot_pointmap: torch.Tensor | None = None, context_robot_mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None, num_steps: int | None = None,
                guidance_scale: float | None = None, scheduler=None, actions: torch.Tensor | None = None,
                context_actions: torch.Tensor | None = None, residual_decoding: bool | None = None,
                contact_radius_m: float | None = None, robot_points_from_kinematics: bool | None = None,
                camera_K: torch.Tensor | None = None, T_world_cam: torch.Tensor | None = None,
                snap_to_camera_rays: bool | None = None, refine_robot: bool | None = None,
                tcp_world: torch.Tensor | None = None,
                ghost_tolerance_m: float | None = None) -> dict:
        """Generate T frames chunk by chunk (autoregressive), optionally batched (leading B axis).

        context_rgb (C, H, W, 3) uint8 and context_pointmap (C, H, W, 3) world metres: C >= 1 known frames
        (context_valid (C, H, W) bool, default all valid). robot_pointmaps (T, H, W, 3) world metres and
        robot_masks (T, H, W) bool: the robot in each frame to generate. context_robot_*: the robot in the
        context frames (recommended; default none visible). actions (T, action_dim) and context_actions
        (C, action_dim): joint_pos vectors, needed by (only) an action-conditioned model.
        residual_decoding: None = the config's (``WorldModelConfig.residual_decoding``).
        contact_radius_m: None = the config's (``WorldModelConfig.contact_radius_m``); a negative value turns
        compositing off. Otherwise, pixels outside the robot's contact region of a chunk keep the last
        known frame (``contact_region``). robot_points_from_kinematics: None = the config's; True puts
        the robot's own (exact) points into the generated world pointmap where the robot mask is.
        camera_K (3, 3) for the context's H x W and T_world_cam (4, 4): the camera (optional); with them and
        snap_to_camera_rays (None = the config's), every generated point moves onto its pixel's ray.
        tcp_world (T, 3) world metres: the tool-centre point of each frame to generate. With it and the camera,
        ghost_tolerance_m (None = the config's; negative: off) removes ghosts of the arm from the world pointmap:
        generated points in front of the remembered surface, away from the hand (``occlusion_memory``).
        refine_robot: None = on when a ``RobotRefiner`` is attached (``load_world_model`` attaches the one in
        ``<model>/robot_refiner``); it redraws the robot's RGB from its pointmap in every generated chunk.
        Each chunk sees ``context_frames`` known frames: frame 0 is always the initial frame (memory),
        the others the latest frames (``windows.context_indices``, as in training).
        Returns {"rgb": (T, H, W, 3) uint8, "pointmap": (T, H, W, 3) float32 world metres} (no
        "pointmap" from an RGB-only model). It computes on the model's device and returns on the device of
        ``context_rgb``; with CPU generators the noise, hence the rollout, is the same on every device.
        """
        single, out_device = context_rgb.ndim == 4, context_rgb.device
        dev = self.device
        add = (lambda x: None if x is None else torch.as_tensor(x).to(dev).unsqueeze(0)) if single else \
            (lambda x: None if x is None else torch.as_tensor(x).to(dev))
        ctx_rgb, ctx_pm, rob_pm, rob_m = map(add, (context_rgb, context_pointmap, robot_pointmaps, robot_masks))
        ctx_valid, ctx_rpm, ctx_rm = map(add, (context_valid, context_robot_pointmap, context_robot_mask))
        cfg, C, T = self.wm, ctx_rgb.shape[1], rob_pm.shape[1]
        ctx_valid = torch.ones(ctx_pm.shape[:-1], dtype=torch.bool, device=dev) if ctx_valid is None else ctx_valid
        ctx_rpm = torch.zeros_like(ctx_pm) if ctx_rpm is None else ctx_rpm
        ctx_rm = torch.zeros(ctx_pm.shape[:-1], dtype=torch.bool, device=dev) if ctx_rm is None else ctx_rm
        all_act = self._rollout_actions(add(context_actions), add(actions), C, T)
        rays = self._rays(add(camera_K), add(T_world_cam), ctx_rgb.shape[0], ctx_rgb.shape[2:4], snap_to_camera_rays)
        rs = lambda x, mode="nearest": resize_video(x, cfg.height, cfg.width, mode)  # noqa: E731
        ctx_rgb, ctx_pm, ctx_valid, ctx_rpm, ctx_rm, rob_pm, rob_m = (
            rs(ctx_rgb, "bilinear"), rs(ctx_pm), rs(ctx_valid), rs(ctx_rpm), rs(ctx_rm), rs(rob_pm), rs(rob_m))
        all_rpm, all_rm = torch.cat([ctx_rpm, rob_pm], 1), torch.cat([ctx_rm, rob_m], 1)
        lo, hi = self.normalisation_bounds(ctx_pm, ctx_valid, all_rpm, all_rm)
        # History in [-1, 1] pixel space (no metric round trip between chunks).
        hist_rgb, hist_xyz = [rgb_to_unit(ctx_rgb)], [pointmap_to_unit(ctx_pm, ctx_valid, lo, hi)]
        robot_x = pointmap_to_unit(all_rpm, all_rm, lo, hi)
        n_new, made = cfg.frames_per_chunk - cfg.context_frames, 0
        residual = cfg.residual_decoding if residual_decoding is None else residual_decoding
        radius = cfg.contact_radius_m if contact_radius_m is None else contact_radius_m
        if radius is not None and not math.isfinite(radius):
            raise ValueError(f"contact_radius_m must be a distance in metres (>= 0), negative to generate every "
                             f"pixel, or None for the checkpoint's; got {radius}")
        robot_xyz = cfg.robot_points_from_kinematics if robot_points_from_kinematics is None \
            else robot_points_from_kinematics
        refiner = self._refiner(refine_robot)
        memory, tcp, ghost_tol = self._occlusion_memory(hist_xyz[0], ctx_rm, ctx_valid, lo, hi, add(tcp_world), rays,
                                                        ghost_tolerance_m, T)
        while made < T:
            idx = rollout_window_indices(cfg, C + made, C + T)
            frames = idx[:cfg.context_frames]
            rgb_hist, xyz_hist = torch.cat(hist_rgb, 2), torch.cat(hist_xyz, 2)
            frozen = frozen_lat = None
            if residual:                   # encode the "nothing moves" chunk; its head is the context
                frozen = tuple(self._frozen_chunk(h[:, :, frames]) for h in (rgb_hist, xyz_hist))
                frozen_lat = self.encode_pair(*frozen)
                ctx_lat = frozen_lat[:, :, :cfg.context_latent_frames]
            else:
                ctx_lat = self.encode_pair(rgb_hist[:, :, frames], xyz_hist[:, :, frames])
            ctx_lat = ctx_lat + cfg.context_noise_inference * randn_tensor(ctx_lat.shape, generator=generator,
                                                                           device=ctx_lat.device)
            mask_px = all_rm[:, idx].float()
            mask_px[:, :cfg.context_frames] = 1.0
            act = None if all_act is None else all_act[:, idx]
            inputs = self.chunk_inputs(ctx_lat, robot_x[:, :, idx], mask_px, act)
            null = self._null_inputs(ctx_lat, robot_x[:, :, idx], guidance_scale, act)
            x0 = self.sample(inputs, null, generator, num_steps, guidance_scale, scheduler)
            rgb_out, xyz_out = self._decode_chunk(x0, frozen, frozen_lat)
            if radius is not None and radius >= 0:     # the robot's chunk: latest known frame + new ones
                robot = idx[cfg.context_frames - 1:]
                rgb_out, xyz_out = self._keep_outside_contact(rgb_out, xyz_out, rgb_hist, xyz_hist, all_rpm[:, robot],
                                                              all_rm[:, robot], lo, hi, radius)
            keep = min(n_new, T - made)
            new = slice(cfg.context_frames, cfg.context_frames + keep)
            if refiner is not None:        # only the frames the rollout keeps
                kept = idx[new]
                rgb_out[:, :, new] = refiner.refine_video(rgb_out[:, :, new], robot_x[:, :, kept], all_rm[:, kept])
            if rays is not None and xyz_out is not None:
                xyz_out = self._snap_chunk(xyz_out, rays, lo, hi)
            if memory is not None:         # on the final (snapped) points
                xyz_out[:, :, new] = memory.remove_ghosts(xyz_out[:, :, new], all_rm[:, idx[new]],
                                                          tcp[:, idx[new] - C], ghost_tol, cfg.carry_radius_m)
            if robot_xyz and xyz_out is not None:
                xyz_out = torch.where(all_rm[:, idx].unsqueeze(1), robot_x[:, :, idx], xyz_out)
            hist_rgb.append(rgb_out[:, :, new])
            # RGB-only: the XYZ history is never read (encode_pair ignores it); keep its length
            hist_xyz.append(xyz_hist[:, :, -1:].expand(-1, -1, keep, -1, -1) if xyz_out is None else xyz_out[:, :, new])
            if memory is not None:
                memory.update(hist_xyz[-1], all_rm[:, idx[new]])
            made += keep
        out = {"rgb": unit_to_rgb(torch.cat(hist_rgb, 2)[:, :, C:])}
        if cfg.predict_pointmap:
            out["pointmap"] = unit_to_pointmap(torch.cat(hist_xyz, 2)[:, :, C:], lo, hi)
        return {k: (v[0] if single else v).to(out_device) for k, v in out.items()}

    def _occlusion_memory(self, xyz, robot_m, valid, lo, hi, tcp_world, rays, tolerance_m, T: int):
        """(OcclusionMemory of the context frames, (B, T, 3) tool-centre points, tolerance) when ghost removal
        is on and has what it needs (a 4D model, the camera and the tool-centre points); else Nones."""
        tol = self.wm.ghost_tolerance_m if tolerance_m is None else tolerance_m
        if tol is not None and not math.isfinite(tol):
            raise ValueError(f"ghost_tolerance_m must be a distance in metres (>= 0), negative to turn ghost removal "
                             f"off, or None for the checkpoint's; got {tol}")
        if tol is None or tol < 0 or not self.wm.predict_pointmap or rays is None or tcp_world is None:
            return None, None, None
        B = xyz.shape[0]
        if tcp_world.shape != (B, T, 3) or not torch.isfinite(tcp_world).all():
            raise ValueError(f"tcp_world must be finite world metres, one point per frame to generate: ({T}, 3) "
                             f"(batched: ({B}, {T}, 3)); got {tuple(tcp_world.shape)}")
        ones = torch.ones(xyz.shape[0], 1, *xyz.shape[-2:], dtype=torch.bool, device=xyz.device)
        mem = OcclusionMemory(xyz, robot_m, valid, lambda x: unit_to_pointmap(x, lo, hi),
                              lambda pm: pointmap_to_unit(pm, ones, lo, hi), rays)
        return mem, tcp_world.float(), tol

    def _refiner(self, refine_robot: bool | None):
        if refine_robot and self.robot_refiner is None:
            raise ValueError("refine_robot=True but this world model has no robot refiner; make one with "
                             "`robo4d train-refiner --model <model dir> --data <shards>`, or pass refine_robot=None")
        if refine_robot is False or self.robot_refiner is None:
            return None
        return self.robot_refiner.to(self.device)

    def _rays(self, K, T_world_cam, batch: int, in_hw, snap: bool | None):
        """(origins (B, 3), directions (B, H, W, 3)) of the model-resolution pixels, world frame; None
        when no camera is given or snapping is off."""
        if K is None or T_world_cam is None or not (self.wm.snap_to_camera_rays if snap is None else snap):
            return None
        K, T_world_cam = (torch.as_tensor(x, dtype=torch.float32) for x in (K, T_world_cam))
        if K.ndim != 3 or T_world_cam.ndim != 3 or K.shape[1:] != (3, 3) or T_world_cam.shape[1:] != (4, 4) \
                or K.shape[0] not in (1, batch) or T_world_cam.shape[0] not in (1, batch):
            raise ValueError(f"camera_K must be (3, 3) and T_world_cam (4, 4), with a leading axis of 1 or the "
                             f"rollout's batch ({batch}) on a batched rollout; got {tuple(K.shape)} and "
                             f"{tuple(T_world_cam.shape)}")
        if not (torch.isfinite(K).all() and torch.isfinite(T_world_cam).all()) or (K[..., 0, 0] <= 0).any() \
                or (K[..., 1, 1] <= 0).any():
            raise ValueError("camera_K / T_world_cam hold NaN/inf or non-positive focal lengths: pass the camera's "
                             "calibration, or leave both None to keep the generated points as decoded")
        out_hw = (self.wm.height, self.wm.width)    # rays are cheap: made on the CPU, then moved
        origins, dirs = pixel_rays_world(scale_intrinsics(K.cpu(), tuple(in_hw), out_hw), T_world_cam.cpu(), *out_hw)
        return origins.to(self.device), dirs.to(self.device)

    @staticmethod
    def _snap_chunk(xyz_out, rays, lo, hi):
        """Decoded XYZ chunk (B, 3, F, H, W) in [-1, 1] -> the same with every point on its pixel's ray."""
        pm = snap_to_rays(unit_to_pointmap(xyz_out, lo, hi), rays[0][:, None], rays[1][:, None])
        return pointmap_to_unit(pm, torch.ones(pm.shape[:-1], dtype=torch.bool, device=pm.device), lo, hi)

    @staticmethod
    def _keep_outside_contact(rgb_out, xyz_out, rgb_hist, xyz_hist, robot_pm, robot_m, lo, hi, radius_m: float):
        """Decoded chunk (B, 3, F, H, W) x2 in [-1, 1] -> the same with every pixel outside the robot's
        contact region set to the latest known frame (history (B, 3, n, H, W)), RGB and XYZ alike."""
        scene = unit_to_pointmap(xyz_hist[:, :, -1:], lo, hi)[:, 0]
        keep_known = ~contact_region(scene, robot_pm, robot_m, radius_m)[:, None, None]
        rgb_out = torch.where(keep_known, rgb_hist[:, :, -1:], rgb_out)
        if xyz_out is not None:
            xyz_out = torch.where(keep_known, xyz_hist[:, :, -1:], xyz_out)
        return rgb_out, xyz_out

    def _frozen_chunk(self, ctx: torch.Tensor) -> torch.Tensor:
        """Context frames (B, 3, c, H, W) -> the chunk (B, 3, F, H, W) in which nothing moves after them."""
        n_new = self.wm.frames_per_chunk - ctx.shape[2]
        return torch.cat([ctx, ctx[:, :, -1:].expand(-1, -1, n_new, -1, -1)], 2)

    def _decode_chunk(self, x0: torch.Tensor, frozen: tuple | None = None,
                      frozen_lat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoded chunk (``decode_pair``). With the frozen (RGB, XYZ) chunk and its latents (residual
        decoding): frozen chunk + decode(x0) - decode(frozen latents), so only what the model changed
        passes through the VAE; one batched decode for both."""
        if frozen is None:
            return self.decode_pair(x0)
        B = x0.shape[0]
        outs = self.decode_pair(torch.cat([x0, frozen_lat], 0))
        return tuple(None if o is None else (fr + o[:B] - o[B:]).clamp(-1, 1) for fr, o in zip(frozen, outs))

    def _rollout_actions(self, context_actions, actions, C: int, T: int) -> torch.Tensor | None:
        """(B, C + T, action_dim) actions of an action-conditioned rollout; None otherwise."""
        if self.wm.robot_condition != "action":
            return None
        if actions is None or context_actions is None:
            raise ValueError("this world model is conditioned on actions: pass actions (T, action_dim) and "
                             "context_actions (C, action_dim) (joint_pos vectors, see action_vectors)")
        a = torch.cat([context_actions, actions], 1).float()
        if a.shape[1:] != (C + T, self.wm.action_dim):
            raise ValueError(f"actions must be (T={T}, {self.wm.action_dim}) and context_actions (C={C}, "
                             f"{self.wm.action_dim}), got {tuple(actions.shape)} and {tuple(context_actions.shape)}")
        return a

    def _null_inputs(self, ctx_lat, robot_x, guidance_scale, actions=None) -> ChunkInputs | None:
        g = self.wm.guidance_scale if guidance_scale is None else guidance_scale
        if g <= 1.0:
            return None
        B, _, n = robot_x.shape[:3]
        mask_px = torch.zeros(B, n, self.wm.height, self.wm.width, device=robot_x.device)
        mask_px[:, :self.wm.context_frames] = 1.0
        null_act = None if actions is None else torch.zeros_like(actions)
        return self.chunk_inputs(ctx_lat, torch.full_like(robot_x, -1.0), mask_px, null_act)

    # ------------------------------------------------------------------ statistics
    @torch.no_grad()
    def measure_latent_stats(self, batches) -> dict:
        """Mean/std of the RAW (un-normalised) VAE latents over batches: RGB per channel (lists of z),
        XYZ pooled over channels (scalars, as 4DNeX/Kinema4D do). Feed the result into the config's
        rgb_latent_* / xyz_latent_* fields."""
        acc = {RGB: [], XYZ: []}
        for batch in batches:
            b = {k: resize_video(batch[k].to(self.device), self.wm.height, self.wm.width, "nearest")
                 for k in ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask")}
            lo, hi = self.normalisation_bounds(b["pointmap"], b["valid"], b["robot_pointmap"], b["robot_mask"])
            for dom, x in ((RGB, rgb_to_unit(b["rgb"])), (XYZ, pointmap_to_unit(b["pointmap"], b["valid"], lo, hi))):
                acc[dom].append(self.vae.encode(x).latent_dist.mode().transpose(0, 1).flatten(1))
        rgb, xyz = torch.cat(acc[RGB], 1), torch.cat(acc[XYZ], 1)
        return {"rgb_latent_mean": rgb.mean(1).tolist(), "rgb_latent_std": rgb.std(1).tolist(),
                "xyz_latent_mean": float(xyz.mean()), "xyz_latent_std": float(xyz.std())}


# --------------------------------------------------------------------------------------- loading
def train_command(preset: str) -> str:
    return f"robo4d train --preset {preset} --data <dataset dir> --out <output dir>"


def check_checkpoint_config(path: Path, preset: str | None = None, height: int | None = None,
                            width: int | None = None) -> dict:
    """The config dict of the checkpoint at ``path``; raises naming the file, what was expected and the command
    that makes the right checkpoint when it is missing or of another preset / resolution."""
    cfg_file = Path(path) / Kinema4DWorldModel.config_name
    if not cfg_file.exists():
        raise FileNotFoundError(f"no world-model checkpoint at {path} (missing {cfg_file.name}); "
                                f"make one with: {train_command(preset or 'default')}")
    have = json.loads(cfg_file.read_text())
    want = {"preset": preset, "height": height, "width": width}
    bad = {k: (have.get(k), v) for k, v in want.items() if v is not None and have.get(k) != v}
    if bad:
        got = ", ".join(f"{k}={h!r}" for k, (h, _) in bad.items())
        exp = ", ".join(f"{k}={v!r}" for k, (_, v) in bad.items())
        raise CheckpointMismatchError(
            f"{cfg_file} holds a world model with {got}, expected {exp}. "
            f"Make a matching checkpoint with: {train_command(preset or have.get('preset', 'default'))}")
    return have


def load_world_model(path: str | Path, preset: str | None = None, height: int | None = None,
                     width: int | None = None, **kwargs) -> Kinema4DWorldModel:
    """``Kinema4DWorldModel.from_pretrained`` that first checks the checkpoint is the preset and
    resolution asked for, and says which file is wrong and how to make the right one. A LoRA fine-tune
    (``adapter_checkpoint``) is rebuilt from its base Wan2.1 directory plus its trainable weights."""
    from robo4d_env.world_model.adapter_checkpoint import is_adapter_dir, load_adapter_model
    path = Path(path)
    have = check_checkpoint_config(path, preset, height, width)
    if is_adapter_dir(path):
        model = load_adapter_model(path, have, kwargs.get("torch_dtype"))
    else:
        try:
            model = Kinema4DWorldModel.from_pretrained(path, **kwargs)
        except (OSError, ValueError, RuntimeError) as e:     # truncated / corrupt safetensors, missing tensors
            raise ValueError(f"world-model checkpoint {path} could not be loaded ({e}). Re-copy it, or make a new "
                             f"one with: {train_command(preset or have.get('preset', 'default'))}") from e
    model.attach_robot_refiner(load_robot_refiner(path))
    return model.vae_channels_last()
