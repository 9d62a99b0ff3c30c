"""Configuration of the Kinema4D world model (Kinema4D §3.2, supp. B.1) and its presets.

``WorldModelConfig`` is the single source of truth for the model's fields: ``Kinema4DWorldModel``
exposes exactly these as its diffusers config (``config.json``). ``TrainingConfig`` holds the
optimisation settings, which never enter the saved model.

Presets:
  * ``tiny``            tests: 32 px, 9-frame chunks, a 2-layer DiT; a train step takes well under a second.
  * ``default``         this 2-core CPU: 64 px, 17-frame chunks, a 4-layer DiT (see ``TrainingConfig``) and a
                        2.6M-parameter VAE (base_dim 16: at 32 a VAE train step on 5-frame clips took ~20 s).
  * ``wan2.1-i2v-14b``  the paper's scale: the Wan2.1-I2V-14B transformer + Wan2.1 VAE loaded from a
                        local directory (``pretrained_path``), LoRA rank 64. Never downloaded.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

# Kinema4D supp. B.1: XYZ latent statistics measured on Robo4D-200k with the Wan2.1 VAE. To be
# re-measured on our data (``Kinema4DWorldModel.measure_latent_stats``) once a trained VAE is used.
PAPER_XYZ_LATENT_MEAN = -0.17
PAPER_XYZ_LATENT_STD = 1.36

# Wan2.1-I2V-14B-480P transformer (diffusers layout, ``transformer/config.json``).
WAN21_I2V_14B_TRANSFORMER = dict(
    patch_size=[1, 2, 2], num_attention_heads=40, attention_head_dim=128, ffn_dim=13824, num_layers=40,
    text_dim=4096, freq_dim=256, image_dim=1280, added_kv_proj_dim=5120, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)
# Wan2.1 VAE (``vae/config.json``).
WAN21_VAE = dict(vae_base_dim=96, vae_z_dim=16, vae_dim_mult=[1, 2, 4, 4], vae_num_res_blocks=2,
                 vae_temporal_downsample=[False, True, True])


@dataclass
class WorldModelConfig:
    """Every field of the world model. Frames: pointmaps are world frame, metres."""

    preset: str = "tiny"
    # ---- video layout
    height: int = 32                         # pixels
    width: int = 32
    frames_per_chunk: int = 9                # frames per DiT sample, 1 + 4k (Wan VAE: 4x causal temporal)
    context_frames: int = 5                  # known frames per chunk, 1 + 4k; frame 0 is the memory frame
    clip_frames: int = 17                    # dataset clip length a training window is drawn from
    # ---- VAE (diffusers.AutoencoderKLWan), shared by RGB, world XYZ and robot XYZ
    vae_base_dim: int = 8
    vae_z_dim: int = 4
    vae_dim_mult: list = field(default_factory=lambda: [1, 2, 4, 4])   # 3 downsamples = 8x spatial
    vae_num_res_blocks: int = 1
    vae_temporal_downsample: list = field(default_factory=lambda: [False, True, True])  # 4x temporal
    vae_spatial_factor: int = 8              # = 2 ** (len(vae_dim_mult) - 1)
    vae_temporal_factor: int = 4             # = 2 ** sum(vae_temporal_downsample)
    vae_sample_posterior: bool = False       # encode to the posterior mode (deterministic) or a sample
    # Latent normalisation z -> (z - mean) / std. RGB: None = the VAE's own latents_mean/std.
    rgb_latent_mean: list | None = None
    rgb_latent_std: list | None = None
    xyz_latent_mean: float = PAPER_XYZ_LATENT_MEAN
    xyz_latent_std: float = PAPER_XYZ_LATENT_STD
    # ---- DiT (diffusers.WanTransformer3DModel)
    patch_size: list = field(default_factory=lambda: [1, 2, 2])
    num_attention_heads: int = 2
    attention_head_dim: int = 16
    ffn_dim: int = 64
    num_layers: int = 2
    text_dim: int = 32                       # width of the robot tokens fed where Wan takes T5 text
    freq_dim: int = 32                       # sinusoidal timestep features
    image_dim: int | None = None             # Wan I2V CLIP width; set -> a learned null image context
    image_seq_len: int = 257                 # CLIP tokens Wan I2V expects (only with image_dim)
    added_kv_proj_dim: int | None = None
    cross_attn_norm: bool = True
    qk_norm: str | None = "rms_norm_across_heads"
    eps: float = 1e-6
    rope_max_seq_len: int = 1024
    text_seq_len: int | None = None          # pad robot tokens to this many (Wan I2V hard-codes 512)
    robot_token_grid: list | None = None     # avg-pool robot latents to (t, h, w) before tokens; None: all
    domain_embedding_init_std: float = 0.02  # RGB-vs-XYZ learnable embeddings (4DNeX)
    # ---- ablations (benchmarks.world_model): the same DiT with another condition or output
    robot_condition: str = "pointmap"        # "pointmap" (Kinema4D) | "action": per-frame joint_pos action
                                             # vectors embedded as the cross-attention tokens (IRASim-style)
    predict_pointmap: bool = True            # False: RGB-only output (no world pointmap half)
    # What the condition holds in the RGB half of the frames to generate: "zeros", the paper's
    # [I_0 zero-padded | M_robot]; "last_context", the last context latent frame repeated (a copy-forward
    # prior: the DiT then only has to change what the robot changes).
    future_condition: str = "zeros"
    # How the pixel robot mask reaches the latent grid: "area", Wan I2V's average pool (one channel per
    # frame); "unshuffle", space-to-depth (s*s channels per frame), which keeps where inside a latent cell
    # the fingers are (at 64 px a pixel is about 1 cm of table, a latent cell 8 cm: twice the cube).
    mask_packing: str = "area"
    action_dim: int = 8                      # joint_pos action: 7 commanded joints (rad) + finger opening (m)
    # ---- pointmap -> [-1, 1] image
    pointmap_norm: str = "workspace"         # "workspace": fixed metric box; "minmax": per sequence (B.1)
    # Box around the robosuite table scenes (measured on a lift dataset: x -2.0..0.26, y -0.3..3.0,
    # z 0..1.13 m, camera looking down the table); points outside are clamped.
    workspace_min: list = field(default_factory=lambda: [-2.0, -0.5, -0.05])
    workspace_max: list = field(default_factory=lambda: [0.5, 3.0, 1.5])
    minmax_eps: float = 1e-6                 # metres, floor on a degenerate extent
    # ---- robot mask (§3.2)
    soft_mask_fraction: float = 0.1
    soft_mask_value: float = 0.5
    # ---- flow matching (as Wan): x_s = (1 - s) x0 + s eps, the DiT predicts eps - x0
    num_train_timesteps: int = 1000
    flow_shift: float = 3.0                  # Wan2.1 480p sampling shift
    num_sampling_steps: int = 4
    guidance_scale: float = 1.0              # > 1: classifier-free guidance on the robot condition
    robot_cond_dropout: float = 0.1          # training probability of dropping all robot inputs (CFG)
    context_noise_max: float = 0.1           # training: std ~ U(0, max) added to context latents
    context_noise_inference: float = 0.02    # rollout: fixed std added to context latents
    # Training: the flow-matching loss weighs latents in the robot's region (its mask dilated by
    # region_loss_dilate_px, pooled to the latent grid) 1 + region_loss_weight times the rest. The
    # contact-region rollout keeps the known frame outside that region, so errors there are never shown.
    region_loss_weight: float = 0.0
    region_loss_dilate_px: int = 4
    # Rollout only (no retraining): each new frame = last context frame + (decoded sample - decoded
    # "nothing moved" chunk). The VAE's own error on what did not change cancels, so static pixels and
    # points stay exact instead of passing through a lossy VAE every chunk (benchmarks.world_model).
    residual_decoding: bool = False
    # Rollout only: objects move only where the robot is or comes within this distance (quasi-static
    # scenes), so pixels outside that region keep the latest known frame exactly (``contact_region``;
    # the radius from ``benchmarks.contact_region``: the knee of lift's ground truth). None: everything
    # is generated.
    contact_radius_m: float | None = 0.04
    # Rollout only: the robot's points are known exactly (kinematics), so the generated world pointmap
    # takes them where the robot mask is; the model generates the rest.
    robot_points_from_kinematics: bool = True
    # Rollout only, when the caller gives the camera and the tool-centre point of each frame: a generated
    # point in front of the remembered surface (the pixel's latest non-robot point) by more than
    # ghost_tolerance_m, and farther than carry_radius_m from the tool-centre point (objects appear in
    # front of what was there only in the hand), is a ghost of the arm and takes the remembered point; so
    # is one behind a remembered surface the hand never came near (``occlusion_memory``). None: off.
    ghost_tolerance_m: float | None = None
    carry_radius_m: float = 0.1
    # Rollout only, when the caller gives the camera: a pixel's surface point lies on that pixel's ray,
    # so each generated world point is moved to the nearest point of its ray, keeping only its depth
    # along the ray. On the VAE's held-out round trips this cuts the median point error by a third
    # (3.4 -> 2.3 cm); benchmarks.world_model --snap-to-rays measures it on whole rollouts.
    snap_to_camera_rays: bool = True
    # The finger opening drawn in the robot pointmaps the model trained on: "commanded" (the fingers close
    # fully, grasp or not) or "measured" (an object between them stops them; `robo4d data generate
    # --robot-pointmap measured_fingers`). Kinema4D-v0 follows it: with "measured" it stops its fingers
    # where they meet the generated world (``envs/grasp.py``), so the model sees whether a grasp holds.
    robot_fingers: str = "commanded"
    # Rollout only, for that grasp test: the env's memory of the scene takes a generated point only where it
    # moved farther than this from the remembered one; below, the difference is this generator's XYZ noise,
    # not a moved object. None: every generated point.
    grasp_scene_tolerance_m: float | None = None
    # ---- LoRA (peft), the pretrained path only
    lora_rank: int | None = None
    lora_alpha: int | None = None            # None: = rank
    lora_target_modules: list = field(default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"])

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        t = self.vae_temporal_factor
        for name in ("frames_per_chunk", "context_frames", "clip_frames"):
            if (getattr(self, name) - 1) % t:
                raise ValueError(f"{name}={getattr(self, name)} must be 1 + {t}k (the VAE packs {t} frames "
                                 f"per latent after the first)")
        if not 1 <= self.context_frames < self.frames_per_chunk <= self.clip_frames:
            raise ValueError(f"need 1 <= context_frames ({self.context_frames}) < frames_per_chunk "
                             f"({self.frames_per_chunk}) <= clip_frames ({self.clip_frames})")
        if self.vae_spatial_factor != 2 ** (len(self.vae_dim_mult) - 1) or \
                self.vae_temporal_factor != 2 ** sum(map(bool, self.vae_temporal_downsample)):
            raise ValueError(f"vae_spatial_factor={self.vae_spatial_factor} / vae_temporal_factor="
                             f"{self.vae_temporal_factor} disagree with vae_dim_mult={self.vae_dim_mult} / "
                             f"vae_temporal_downsample={self.vae_temporal_downsample}")
        if len(self.vae_temporal_downsample) != len(self.vae_dim_mult) - 1:
            raise ValueError(f"vae_temporal_downsample needs len(vae_dim_mult) - 1 = "
                             f"{len(self.vae_dim_mult) - 1} entries, got {self.vae_temporal_downsample}")
        s = self.vae_spatial_factor * self.patch_size[1]
        if self.height % s or self.width % s:
            raise ValueError(f"height/width {self.height}x{self.width} must be multiples of {s} "
                             f"(VAE {self.vae_spatial_factor}x times patch {self.patch_size[1]})")
        if self.robot_condition not in ("pointmap", "action"):
            raise ValueError(f"robot_condition must be 'pointmap' or 'action', got {self.robot_condition!r}")
        if self.mask_packing not in ("area", "unshuffle"):
            raise ValueError(f"mask_packing must be 'area' or 'unshuffle', got {self.mask_packing!r}")
        if self.future_condition not in ("zeros", "last_context"):
            raise ValueError(f"future_condition must be 'zeros' or 'last_context', got {self.future_condition!r}")
        if self.future_condition == "last_context" and not self.predict_pointmap:
            raise ValueError("future_condition='last_context' needs the RGB | XYZ canvas (predict_pointmap=True): "
                             "an RGB-only model's single half carries the robot latents")
        if self.region_loss_weight < 0 or self.region_loss_dilate_px < 0:
            raise ValueError(f"region_loss_weight ({self.region_loss_weight}) and region_loss_dilate_px "
                             f"({self.region_loss_dilate_px}) must be >= 0 (0 weight: the plain loss)")
        for name, off_allowed in (("ghost_tolerance_m", True), ("carry_radius_m", False),
                                  ("grasp_scene_tolerance_m", True)):
            value = getattr(self, name)
            if (value is not None or not off_allowed) and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a distance >= 0 in metres{', or None (off)' if off_allowed else ''}; "
                                 f"got {value}")
        if self.robot_fingers not in ("commanded", "measured"):
            raise ValueError(f"robot_fingers must be 'commanded' or 'measured', got {self.robot_fingers!r}")
        if self.pointmap_norm not in ("workspace", "minmax"):
            raise ValueError(f"pointmap_norm must be 'workspace' or 'minmax', got {self.pointmap_norm!r}")

    # ---- derived sizes
    @property
    def latent_frames(self) -> int:
        return 1 + (self.frames_per_chunk - 1) // self.vae_temporal_factor

    @property
    def context_latent_frames(self) -> int:
        return 1 + (self.context_frames - 1) // self.vae_temporal_factor

    @property
    def mask_channels(self) -> int:
        per_frame = self.vae_spatial_factor ** 2 if self.mask_packing == "unshuffle" else 1
        return self.vae_temporal_factor * per_frame     # Wan I2V packs 4 frames' masks per latent frame

    @property
    def dit_in_channels(self) -> int:
        return 2 * self.vae_z_dim + self.mask_channels   # noisy + mask + condition (36 for Wan2.1 I2V)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "WorldModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TrainingConfig:
    """Optimisation settings (never saved into the model's config.json)."""

    max_steps: int = 20
    batch_size: int = 1
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    adam_betas: tuple = (0.9, 0.999)
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    ema_decay: float = 0.999
    use_ema: bool = True
    mixed_precision: str = "no"              # accelerate: "no" | "fp16" | "bf16"
    gradient_checkpointing: bool = False
    checkpoint_every: int = 10
    keep_checkpoints: int = 2
    eval_every: int = 10                     # 0: never write eval clips
    eval_fps: int = 8
    num_workers: int = 0                     # loader processes (raw windows and the latent-cache build)
    # Windows per VAE call while building the latent cache: one clip per call left the H200 mostly idle
    # (5 clips/s; stop 21). The paper-scale preset uses 1 (a 49x480x832 window is ~2 GB of activations).
    latent_cache_clips_per_call: int = 16
    num_threads: int | None = None           # torch intra-op threads (1 on a busy 2-core CPU); None: default
    holdout_episodes: int = 0                # leave out the last N episodes (the VAE stage's eval episodes)
    # Training windows from a dataset path: "rollout" = stride-1 windows laid out as a rollout sees them
    # (world_model/windows.py; what Kinema4D-v0 needs), "clip" = whole episodes resampled to clip_frames.
    windows: str = "rollout"
    # "rollout": known-frame counts 1, 1+s, 1+2s, ... With s = 6 every frame is a generated target in 2
    # windows and the 1 + 12k counts of 12-step env steps are all included; s bounds the latent cache
    # (lift, 200 episodes: ~1400 windows at s = 6; one VAE encode of a window is ~0.6 s on this CPU).
    window_known_stride: int = 6
    seed: int = 0


@dataclass
class VaeTrainingConfig:
    """The VAE stage (``robo4d train-vae``): reconstruction of RGB, world XYZ and robot XYZ clips.

    Loss = l1_weight·|x̂ - x| + l2_weight·(x̂ - x)² + kl_weight·KL, every term a per-element mean
    (KL per latent element), so kl_weight is ~30x smaller in "sum" units (8x8x4 pixels·3 ch per latent)."""

    # 1 + 4k frames per VAE sample. Short clips are cheap (default preset, 1 thread: 5 frames ~1.1 s/step,
    # 17 frames ~3.5 s/step) but the causal VAE only learns the chunks it sees: trained on 5 frames only,
    # held-out 17-frame clips reconstructed at 20 dB on frames 0-4 and ~7-10 dB on frames 9-16. So: warm
    # up on 5, then fine-tune on the DiT's chunk length (``--clip-frames 17``, resumes the same run).
    clip_frames: int = 5
    max_steps: int = 300
    batch_size: int = 2                      # clips per step; each gives 3 videos (RGB, XYZ, robot XYZ)
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    warmup_steps: int = 20
    max_grad_norm: float = 1.0
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    kl_weight: float = 1e-4
    # False: only the decoder (and post_quant_conv) trains. The latents stay exactly what they were, so a
    # world model's DiT and latent cache built on this VAE stay valid (``robo4d swap-vae``).
    train_encoder: bool = True
    # RGB and XYZ pixels whose world point lies in the object box (not the robot) weigh 1 + this in the
    # reconstruction terms: a task's objects are a few dozen of 4096 pixels at 64 px, and they are what
    # the success detectors read. World frame, metres: over the table, above its top (robosuite: 0.8 m).
    object_loss_weight: float = 0.0
    object_box_min_m: tuple = (-0.45, -0.45, 0.805)
    object_box_max_m: tuple = (0.55, 0.45, 1.2)
    # Pixels that change over the clip (any channel moves more than dynamic_threshold from the first frame;
    # 12 uint8 levels, the world-model benchmark's psnr_dynamic) and are not the robot weigh 1 + this:
    # a moved object, its vacated spot, what the arm uncovers.
    dynamic_loss_weight: float = 0.0
    dynamic_threshold: float = 12 / 127.5
    weighted_videos: tuple = ("rgb", "xyz")   # which videos the two weights apply to (of rgb, xyz)
    mixed_precision: str = "no"
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    eval_episodes: int = 10                  # held out: the last episodes of the last data file
    stats_clips: int = 16                    # training clips to measure latent mean/std on
    num_workers: int = 0
    # torch intra-op threads; None: torch's default. 1 on a shared 2-core CPU: with 2 threads and
    # other processes running, a Wan VAE step measured ~13 s vs ~0.8 s with 1 (OpenMP oversubscription).
    num_threads: int | None = 1
    seed: int = 0

    def __post_init__(self):
        if self.object_loss_weight < 0 or self.dynamic_loss_weight < 0:
            raise ValueError("object_loss_weight and dynamic_loss_weight must be >= 0 (0 = plain loss)")
        if not set(self.weighted_videos) <= {"rgb", "xyz"}:
            raise ValueError(f"weighted_videos must name 'rgb' and/or 'xyz', got {self.weighted_videos!r}")


VAE_TRAINING_PRESETS: dict[str, VaeTrainingConfig] = {
    "tiny": VaeTrainingConfig(max_steps=20, eval_episodes=1, stats_clips=2, checkpoint_every=10),
    "default": VaeTrainingConfig(),          # then: --clip-frames 17 --steps <more> (see clip_frames)
    "wan2.1-i2v-14b": VaeTrainingConfig(clip_frames=17, learning_rate=1e-5, mixed_precision="bf16"),
}


PRESETS: dict[str, tuple[WorldModelConfig, TrainingConfig]] = {
    "tiny": (WorldModelConfig(preset="tiny"), TrainingConfig()),
    "default": (
        WorldModelConfig(
            preset="default", height=64, width=64, frames_per_chunk=17, context_frames=5, clip_frames=17,
            # base_dim 16 (2.6M params), not 32 (10.1M): trainable on this CPU (``vae_training``).
            # Tried and measured: a 4x VAE (16x16 latents, 1.9M params) with 4x4 DiT patches. Its
            # reconstruction was better (held-out RGB 22.8 vs 22.0 dB, XYZ 25.0 vs 24.1 dB), but the
            # DiT loss plateaued at 0.69 (vs 0.15 here by step 2000), most likely because one 128-wide
            # token then carries 4x4x16 latent values. 2x2 patches on it are 4x the tokens: over budget.
            vae_base_dim=16, vae_z_dim=16, vae_num_res_blocks=1,
            num_attention_heads=4, attention_head_dim=32, ffn_dim=512, num_layers=4, text_dim=128,
            freq_dim=128, num_sampling_steps=10, guidance_scale=1.0,
        ),
        TrainingConfig(max_steps=2000, batch_size=1, learning_rate=3e-4, warmup_steps=100,
                       checkpoint_every=200, eval_every=500),
    ),
    "wan2.1-i2v-14b": (
        WorldModelConfig(
            preset="wan2.1-i2v-14b", height=480, width=832, frames_per_chunk=49, context_frames=5,
            clip_frames=49, **WAN21_VAE, **WAN21_I2V_14B_TRANSFORMER, text_seq_len=512,
            robot_token_grid=[8, 8, 8], num_sampling_steps=50, guidance_scale=5.0, lora_rank=64,
        ),
        # supp. B.1: AdamW, peak lr 2e-5, batch 32, cosine warm-up; bf16 on GPUs
        TrainingConfig(max_steps=10000, batch_size=1, learning_rate=2e-5, warmup_steps=500,
                       mixed_precision="bf16", gradient_checkpointing=True, checkpoint_every=500,
                       eval_every=1000, latent_cache_clips_per_call=1),
    ),
}


def get_preset(name: str, **overrides) -> tuple[WorldModelConfig, TrainingConfig]:
    """(model config, training config) of a preset; ``overrides`` replace model-config fields."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    model_cfg, train_cfg = PRESETS[name]
    return dataclasses.replace(model_cfg, **overrides), dataclasses.replace(train_cfg)


def with_overrides(cfg, **overrides):
    """``dataclasses.replace`` with the overrides that are not None (unset command-line flags)."""
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


# --------------------------------------------------------------------------------------- CLI overrides
def add_set_argument(p) -> None:
    """``--set FIELD=VALUE`` (repeatable) on an argparse parser; read with ``parse_overrides``."""
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="overrides",
                   help="override a model-config field of the preset, VALUE as JSON (repeatable), "
                        "e.g. --set 'patch_size=[1,1,1]'")


def _field_default(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def parse_overrides(items: list[str]) -> dict:
    """``["patch_size=[1,1,1]", ...]`` -> {"patch_size": [1, 1, 1]}. Unknown fields, bad JSON and a
    value of another type than the field's default (ints pass for floats) raise a ValueError."""
    defaults = {f.name: _field_default(f) for f in dataclasses.fields(WorldModelConfig)}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in defaults:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of the model config's "
                             f"fields ({', '.join(sorted(defaults))})")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"--set {item!r}: VALUE must be JSON (e.g. 4, 0.5, [1,1,1], \"minmax\"): {e}") from e
        want = defaults[key]
        ok = want is None or isinstance(out[key], type(want)) or \
            (isinstance(want, float) and type(out[key]) is int)
        if not ok:
            raise ValueError(f"--set {item!r}: {key} takes a {type(want).__name__} (default {json.dumps(want)}), "
                             f"got {json.dumps(out[key])}")
    return out
