import dataclasses
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402

import robo4d_env  # noqa: E402,F401


@pytest.fixture(scope="session")
def robot():
    from robo4d_env.kinematics import RobotModel
    return RobotModel()


@pytest.fixture(scope="module")
def lift_env():
    env = gym.make("Robo4DSim-v0", task="lift", action_mode="ee_delta", resolution=32,
                   sim_robot_segmentation=True)
    yield env
    env.close()


# Wan2.1-I2V-14B's architecture (cross-attention to image tokens, RMS qk-norm, LoRA) at a size that runs here.
SMALL_WAN = dict(height=32, width=32, frames_per_chunk=9, context_frames=5, clip_frames=9, vae_base_dim=8,
                 vae_z_dim=4, vae_num_res_blocks=1, num_attention_heads=2, attention_head_dim=16, ffn_dim=64,
                 num_layers=2, freq_dim=32, text_dim=24, image_dim=16, added_kv_proj_dim=32, image_seq_len=8,
                 robot_token_grid=[2, 2, 2], lora_rank=4)


@pytest.fixture
def small_wan_fields() -> dict:
    """The model-config fields that scale the ``wan2.1-i2v-14b`` preset down (``robo4d train --set`` style)."""
    return dict(SMALL_WAN)


@pytest.fixture
def small_wan(tmp_path, small_wan_fields):
    """(scaled-down ``wan2.1-i2v-14b`` config, a directory with random weights of it in the diffusers layout)."""
    from robo4d_env.world_model import get_preset
    from robo4d_env.world_model.modeling_world_model import build_transformer, build_vae
    cfg = dataclasses.replace(get_preset("wan2.1-i2v-14b")[0], **small_wan_fields)
    build_transformer(cfg).save_pretrained(tmp_path / "wan" / "transformer")
    build_vae(cfg).save_pretrained(tmp_path / "wan" / "vae")
    return cfg, tmp_path / "wan"
