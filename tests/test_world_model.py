"""Kinema4D world model (robo4d_env.world_model): tiny preset, synthetic tensors, CPU, ~1 min."""
import dataclasses
import json

import pytest
import torch

from robo4d_env.world_model import (CheckpointMismatchError, Kinema4DWorldModel, NonFiniteLossError,
                                    SharedRotaryPosEmbed, get_preset, load_world_model)
from robo4d_env.world_model.modeling_world_model import build_vae, pack_mask


def synthetic_clip(cfg, n_frames, seed=0):
    """One clip (T, H, W, ...) with a moving 'robot' square; world frame, metres."""
    g = torch.Generator().manual_seed(seed)
    H, W = cfg.height, cfg.width
    pm = torch.rand(n_frames, H, W, 3, generator=g) * torch.tensor([1.0, 1.0, 0.5]) + torch.tensor([-1.0, 0.5, 0.0])
    robot_mask = torch.zeros(n_frames, H, W, dtype=torch.bool)
    for t in range(n_frames):
        robot_mask[t, 4:12, 2 + t:10 + t] = True
    return {"rgb": (torch.rand(n_frames, H, W, 3, generator=g) * 255).to(torch.uint8), "pointmap": pm,
            "valid": torch.ones(n_frames, H, W, dtype=torch.bool),
            "robot_pointmap": torch.where(robot_mask[..., None], pm, torch.zeros_like(pm)), "robot_mask": robot_mask}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """1 torch thread: on a shared 2-core CPU, 2 threads oversubscribe and the Wan VAE's conv3d runs
    ~10x slower (measured)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny():
    cfg, train_cfg = get_preset("tiny")
    return cfg, train_cfg


@pytest.fixture(scope="module")
def batch(tiny):
    cfg, _ = tiny
    return {k: v.unsqueeze(0) for k, v in synthetic_clip(cfg, cfg.frames_per_chunk).items()}


def new_model(cfg, seed=0):
    torch.manual_seed(seed)
    return Kinema4DWorldModel.from_world_model_config(cfg)


def test_overfit_lowers_loss(tiny, batch):
    cfg, _ = tiny
    model = new_model(dataclasses.replace(tiny[0], robot_cond_dropout=0.0))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)

    def loss_at(seed):
        return model.training_loss(batch, torch.Generator().manual_seed(seed))

    with torch.no_grad():
        before = loss_at(0).item()
    for _ in range(5):
        loss = loss_at(0)
        loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        after = loss_at(0).item()
    assert after < before


def test_region_loss_weights_the_robots_latents(tiny, batch):
    """region_loss_weight: latents on the (dilated) robot weigh 1 + w, the others 1; w = 0 is the plain loss."""
    cfg = dataclasses.replace(tiny[0], robot_cond_dropout=0.0, region_loss_weight=3.0, region_loss_dilate_px=0)
    model = new_model(cfg)
    w = model.region_loss_weights(batch["robot_mask"])
    f, h = cfg.latent_frames, cfg.height // cfg.vae_spatial_factor
    assert w.shape == (1, 1, f, h, 2 * (cfg.width // cfg.vae_spatial_factor))
    assert set(w.unique().tolist()) == {1.0, 4.0}
    s = cfg.vae_spatial_factor      # the synthetic robot covers rows 4..11 only: latent rows beyond are 1
    assert (w[..., 12 // s + 1:, :] == 1.0).all() and (w[..., 4 // s, :] == 4.0).any()
    plain = Kinema4DWorldModel.from_world_model_config(dataclasses.replace(cfg, region_loss_weight=0.0))
    plain.load_state_dict(model.state_dict())
    weighted, unweighted = (m.training_loss(batch, torch.Generator().manual_seed(0)) for m in (model, plain))
    assert torch.isfinite(weighted) and not torch.isclose(weighted, unweighted)
    with pytest.raises(ValueError, match="region_loss_weight"):
        get_preset("tiny", region_loss_weight=-1.0)


def test_vae_channels_last_keeps_the_decoded_frames(tiny):
    model = new_model(tiny[0])
    cfg = tiny[0]
    z = torch.randn(2, model.vae.config.z_dim, cfg.latent_frames,
                    cfg.height // cfg.vae_spatial_factor, cfg.width // cfg.vae_spatial_factor)
    with torch.no_grad():
        before = model.vae.decode(z).sample
        after = model.vae_channels_last().vae.decode(z).sample
    conv = next(m for m in model.vae.modules() if isinstance(m, torch.nn.Conv3d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.allclose(before, after, atol=1e-5)


def test_vae_frozen_new_modules_trainable(tiny):
    model = new_model(tiny[0])
    assert not any(p.requires_grad for p in model.vae.parameters())
    assert model.robot_proj.weight.abs().sum() == 0        # zero-initialised robot path
    assert model.transformer.config.in_channels == 2 * tiny[0].vae_z_dim + 4


def test_shared_rope_and_mask_packing():
    rope = SharedRotaryPosEmbed(attention_head_dim=12, patch_size=(1, 2, 2), max_seq_len=64)
    cos, _ = rope(torch.zeros(1, 4, 2, 4, 8))                   # (B, C, f, h, 2w): 2 x 2 x (2 + 2) tokens
    grid = cos.reshape(2, 2, 4, -1)
    assert torch.equal(grid[:, :, :2], grid[:, :, 2:])          # XYZ half repeats RGB positions
    assert not torch.equal(grid[:, :, 0], grid[:, :, 1])
    m = pack_mask(torch.ones(1, 9, 16, 16), spatial=8, temporal=4)
    assert m.shape == (1, 4, 3, 2, 2)


def test_save_load_roundtrip_identical(tiny, batch, tmp_path):
    model = new_model(tiny[0]).eval()
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "diffusion_pytorch_model.safetensors").exists()
    loaded = load_world_model(tmp_path / "m", preset="tiny", height=32, width=32).eval()
    with torch.no_grad():
        a = model.training_loss(batch, torch.Generator().manual_seed(3))
        b = loaded.training_loss(batch, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert loaded.wm == model.wm


def test_wrong_preset_error_names_file_and_command(tiny, tmp_path):
    new_model(tiny[0]).save_pretrained(tmp_path / "m")
    with pytest.raises(CheckpointMismatchError) as e:
        load_world_model(tmp_path / "m", preset="default", height=64, width=64)
    msg = str(e.value)
    assert str(tmp_path / "m" / "config.json") in msg and "preset='tiny'" in msg and "'default'" in msg
    assert "robo4d train --preset default" in msg


def test_sampling_deterministic(tiny, batch):
    model = new_model(tiny[0]).eval()
    with torch.no_grad():
        _, inputs = model.prepare_batch(batch, torch.Generator().manual_seed(0))
        a, b, c = (model.sample(inputs, inputs, torch.Generator().manual_seed(s), num_steps=2, guidance_scale=2.0)
                   for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_chunked_rollout_shapes(tiny, batch):
    cfg = dataclasses.replace(tiny[0], num_sampling_steps=1, guidance_scale=2.0)
    model = new_model(cfg).eval()
    clip = {k: v[0] for k, v in batch.items()}
    T = 5                                     # 4 new frames per chunk -> 2 chunks, the last truncated
    out = model.rollout(clip["rgb"][:1], clip["pointmap"][:1], clip["robot_pointmap"][:T], clip["robot_mask"][:T],
                        context_robot_pointmap=clip["robot_pointmap"][:1], context_robot_mask=clip["robot_mask"][:1],
                        generator=torch.Generator().manual_seed(0))
    assert out["rgb"].shape == (T, 32, 32, 3) and out["rgb"].dtype == torch.uint8
    assert out["pointmap"].shape == (T, 32, 32, 3) and out["pointmap"].dtype == torch.float32
    lo, hi = torch.tensor(cfg.workspace_min), torch.tensor(cfg.workspace_max)
    assert ((out["pointmap"] >= lo - 1e-5) & (out["pointmap"] <= hi + 1e-5)).all()    # de-normalised metres


def test_wan_lora_path_scaled_down(tiny, batch, small_wan):
    """The paper-scale loading code on a tiny Wan I2V-shaped config with random weights."""
    from robo4d_env.world_model.pretrained import from_wan_pretrained, trainable_parameter_names

    t = tiny[0]
    small, wan_dir = small_wan
    model = from_wan_pretrained(wan_dir, small)
    names = trainable_parameter_names(model)
    assert names and all("lora_" in n or n.split(".")[0] in ("robot_proj", "domain_embedding", "null_image_embeds")
                         for n in names)
    assert any("transformer" in n and "lora_A" in n for n in names)
    assert not any(p.requires_grad for n, p in model.transformer.named_parameters() if "lora_" not in n)
    assert model.transformer.peft_config["default"].r == 4
    loss = model.training_loss(batch, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss)
    # a mismatching architecture is refused with the file named
    with pytest.raises(ValueError, match="transformer/config.json"):
        from_wan_pretrained(wan_dir, dataclasses.replace(small, num_layers=3))
    assert t.preset == "tiny"


def test_lora_checkpoints_hold_only_what_training_changed(tmp_path, small_wan):
    """A LoRA fine-tune's checkpoints and final model store the trainable weights + the base's path (a full
    copy of the 14B DiT per checkpoint outgrows a GPU machine's disk); resume and loading rebuild it."""
    from safetensors.torch import load_file

    from robo4d_env.world_model.adapter_checkpoint import BASE_FILE, TRAINABLE_FILE
    from robo4d_env.world_model.train import list_checkpoints, train

    small, wan_dir = small_wan
    tc = dataclasses.replace(get_preset("wan2.1-i2v-14b")[1], max_steps=2, checkpoint_every=1, eval_every=0,
                             warmup_steps=0, mixed_precision="no", gradient_checkpointing=False, learning_rate=1e-3)
    data = ClipDataset(small)
    final = train(small, tc, data, tmp_path / "run", pretrained=wan_dir, progress=False)
    ckpt = list_checkpoints(tmp_path / "run")[-1] / "model"
    assert not list(ckpt.glob("diffusion_pytorch_model*")) and not list(final.glob("diffusion_pytorch_model*"))
    stored = load_file(final / TRAINABLE_FILE)
    assert stored and all("lora_" in n or not n.startswith("transformer.") for n in stored)
    loaded = load_world_model(final, preset="wan2.1-i2v-14b")
    have = dict(loaded.named_parameters())
    assert all(torch.equal(have[n], t) for n, t in stored.items())
    assert any(t.abs().sum() > 0 for n, t in stored.items() if "lora_B" in n)     # trained, not the zero init
    train(small, dataclasses.replace(tc, max_steps=3, checkpoint_every=2), data, tmp_path / "run",
          pretrained=wan_dir, progress=False)
    train(small, dataclasses.replace(tc, max_steps=4, checkpoint_every=2), data, tmp_path / "run",
          pretrained=wan_dir, progress=False)
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]       # resumed from the adapter checkpoints (2, then 2 again: step 3 redone once)
    (final / TRAINABLE_FILE).write_bytes(b"truncated")
    with pytest.raises(ValueError, match="re-copy the fine-tune directory"):
        load_world_model(final)
    (final / BASE_FILE).write_text(json.dumps({"pretrained": str(tmp_path / "moved")}))
    with pytest.raises(FileNotFoundError, match="moved"):
        load_world_model(final)


class ClipDataset(torch.utils.data.Dataset):
    def __init__(self, cfg, n=2, nan=False):
        self.items = [synthetic_clip(cfg, cfg.clip_frames, seed=i) for i in range(n)]
        if nan:
            for item in self.items:
                item["pointmap"][:] = float("nan")

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_train_checkpoint_resume_and_nan_guard(tiny, tmp_path):
    from robo4d_env.world_model.train import list_checkpoints, train

    cfg, train_cfg = tiny
    train_cfg = dataclasses.replace(train_cfg, max_steps=2, checkpoint_every=1, eval_every=2, keep_checkpoints=2)
    data = ClipDataset(cfg)
    final = train(cfg, train_cfg, data, tmp_path / "run", progress=False)
    assert (final / "config.json").exists()
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000001", "step-00000002"]
    assert (tmp_path / "run" / "eval" / "step-00000002.mp4").stat().st_size > 0
    train(cfg, dataclasses.replace(train_cfg, max_steps=3, eval_every=0), data, tmp_path / "run", progress=False)
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]                                    # resumed at 2, not restarted
    # resuming with another preset names the checkpoint and the command
    other, _ = get_preset("default")
    with pytest.raises(CheckpointMismatchError, match="robo4d train --preset default"):
        train(other, train_cfg, data, tmp_path / "run", progress=False)
    # NaN guard names the step
    with pytest.raises(NonFiniteLossError, match="at step 1"):
        train(cfg, dataclasses.replace(train_cfg, max_steps=2, eval_every=0), ClipDataset(cfg, nan=True),
              tmp_path / "nan", progress=False)


# --------------------------------------------------------------------------------------- VAE stage
def test_vae_stage_lowers_reconstruction_loss(tiny):
    from robo4d_env.world_model.configuration_world_model import VaeTrainingConfig
    from robo4d_env.world_model.vae_training import batch_videos, vae_loss

    cfg, _ = tiny
    torch.manual_seed(0)
    vae = build_vae(cfg)
    tcfg = VaeTrainingConfig(clip_frames=5)
    clip = {k: v.unsqueeze(0) for k, v in synthetic_clip(cfg, 5).items()}
    x, _ = batch_videos(cfg, clip)
    assert x.shape == (3, 3, 5, 32, 32) and x.min() >= -1 and x.max() <= 1     # RGB, XYZ, robot XYZ
    opt = torch.optim.AdamW(vae.parameters(), lr=2e-3)

    def loss_at():
        return vae_loss(vae, x, tcfg, torch.Generator().manual_seed(0))[0]

    with torch.no_grad():
        before = loss_at().item()
    for _ in range(6):
        loss_at().backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        assert loss_at().item() < 0.9 * before


def test_train_vae_writes_eval_resumes_and_feeds_world_model(tiny, tmp_path):
    from robo4d_env.world_model.configuration_world_model import VaeTrainingConfig
    from robo4d_env.world_model.train import build_model
    from robo4d_env.world_model.vae_training import train_vae

    cfg, _ = tiny
    tcfg = VaeTrainingConfig(max_steps=2, checkpoint_every=1, eval_episodes=1, stats_clips=1, warmup_steps=0)
    data = ClipDataset(cfg, n=3)
    train_vae(cfg, tcfg, data, tmp_path / "v", progress=False)
    vae_dir = train_vae(cfg, dataclasses.replace(tcfg, max_steps=3), data, tmp_path / "v", progress=False)
    report = json.loads((tmp_path / "v" / "vae_eval.json").read_text())
    assert {"rgb_psnr", "xyz_psnr", "xyz_err_m_mean"} <= set(report["vae_recon_psnr"])
    assert report["vae_recon_psnr"]["n_clips"] == 1 and report["steps"] == 3    # held out, not trained on
    steps = [json.loads(line)["step"] for line in (tmp_path / "v" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    model = build_model(cfg, vae=vae_dir)
    stats = report["latent_stats"]
    assert model.wm.xyz_latent_std == pytest.approx(stats["xyz_latent_std"])
    assert model.vae.config.latents_mean == pytest.approx(stats["rgb_latent_mean"])
    # too few training clips for one batch: a clear error instead of an endless loop over an empty loader
    with pytest.raises(ValueError, match="fewer than batch_size=2"):
        train_vae(cfg, dataclasses.replace(tcfg, eval_episodes=2), data, tmp_path / "few", progress=False)


def test_decoder_only_vae_with_object_weights_and_swap_keep_the_dit(tiny, tmp_path):
    from robo4d_env.world_model.configuration_world_model import VaeTrainingConfig
    from robo4d_env.world_model.swap_vae import export_vae, swap_vae_decoder
    from robo4d_env.world_model.vae_training import batch_videos, save_vae, train_vae

    cfg, _ = tiny
    box = dict(object_box_min_m=(-0.5, 0.5, 0.25), object_box_max_m=(0.0, 1.5, 0.5))
    tcfg = VaeTrainingConfig(max_steps=2, checkpoint_every=0, eval_episodes=1, stats_clips=1, warmup_steps=0,
                             clip_frames=5, train_encoder=False, object_loss_weight=5.0, **box)  # box: synthetic
    data = ClipDataset(cfg, n=3)
    clip = {k: v[:5].unsqueeze(0) for k, v in data[0].items()}
    _, w = batch_videos(cfg, clip, tcfg)
    p = clip["pointmap"][0]
    obj = (p[..., 0] > -0.5) & (p[..., 0] < 0.0) & (p[..., 2] > 0.25) & ~clip["robot_mask"][0]
    assert torch.equal(w[0, 0] == 6.0, obj) and torch.equal(w[1], w[0]) and bool((w[2] == 1.0).all())
    assert 0 < int(obj.sum()) < obj.numel()
    still = dict(clip, rgb=clip["rgb"][:, :1].repeat(1, 5, 1, 1, 1))
    v = still["rgb"][0, 0, 0, 0].int()
    still["rgb"][0, 3, 0, 0] = torch.where(v < 128, v + 100, v - 100).to(torch.uint8)   # one pixel, one frame
    _, w = batch_videos(cfg, still, dataclasses.replace(tcfg, object_loss_weight=0.0, dynamic_loss_weight=2.0))
    assert bool((w[0, 0, :, 0, 0] == 3.0).all()) and int((w[0] != 1.0).sum()) == 5   # that pixel, every frame
    _, w_xyz = batch_videos(cfg, still, dataclasses.replace(tcfg, object_loss_weight=0.0, dynamic_loss_weight=2.0,
                                                            weighted_videos=("xyz",)))
    assert bool((w_xyz[0] == 1.0).all()) and torch.equal(w_xyz[1], w[1])
    with pytest.raises(ValueError, match=">= 0"):
        VaeTrainingConfig(dynamic_loss_weight=-1.0)

    model = new_model(cfg)
    model.save_pretrained(tmp_path / "m", safe_serialization=True)
    export_vae(tmp_path / "m", tmp_path / "v0")          # the VAE inside the model, to fine-tune
    with pytest.raises(ValueError, match="--init-vae"):
        train_vae(cfg, tcfg, data, tmp_path / "no_init", progress=False)
    vae_dir = train_vae(cfg, tcfg, data, tmp_path / "v1", init_vae=tmp_path / "v0", progress=False)
    report = json.loads((tmp_path / "v1" / "vae_eval.json").read_text())["vae_recon_psnr"]
    assert report["rgb_object_psnr"] > 0 and report["rgb_psnr"] > 0

    out = swap_vae_decoder(tmp_path / "m", vae_dir, tmp_path / "m2")
    old, new = model.state_dict(), Kinema4DWorldModel.from_pretrained(out).state_dict()
    enc = [k for k in old if k.startswith("vae.encoder.")]
    dec = [k for k in old if k.startswith("vae.decoder.")]
    assert all(torch.equal(old[k], new[k]) for k in enc)
    assert all(torch.equal(old[k], new[k]) for k in old if k.startswith("transformer."))
    assert not all(torch.equal(old[k], new[k]) for k in dec)        # the decoder trained and was installed

    torch.manual_seed(1)
    save_vae(build_vae(cfg), tmp_path / "other")
    with pytest.raises(FileNotFoundError, match="no VAE at"):
        swap_vae_decoder(tmp_path / "m", tmp_path / "missing", tmp_path / "m3")
    with pytest.raises(ValueError, match="encoder differs"):
        swap_vae_decoder(tmp_path / "m", tmp_path / "other", tmp_path / "m3")
    assert not (tmp_path / "m3").exists()


# --------------------------------------------------------------------------------------- latent cache
def test_latent_cache_matches_fresh_encode_and_trains(tiny, tmp_path):
    from robo4d_env.world_model.latent_cache import (LatentCacheDataset, build_latent_cache, cache_fingerprint,
                                                     ensure_latent_cache)
    from robo4d_env.world_model.modeling_world_model import window_indices
    from robo4d_env.world_model.train import list_checkpoints, train

    cfg, train_cfg = tiny
    data = ClipDataset(cfg, n=2)
    model = new_model(cfg).eval()
    path = build_latent_cache(model, data, tmp_path / "c.safetensors", progress=False)
    cached = LatentCacheDataset(path)
    n_win = cfg.clip_frames - cfg.frames_per_chunk + 1
    assert len(cached) == 2 * n_win
    assert ensure_latent_cache(model, data, path, build=False) == path             # fingerprint matches
    assert cache_fingerprint(path) != cache_fingerprint(tmp_path / "none")
    # both clips in one VAE call, read by a loader process: the same cache
    batched = LatentCacheDataset(build_latent_cache(model, data, tmp_path / "b.safetensors", progress=False,
                                                    clips_per_call=2, num_workers=1))
    assert batched.tensors.keys() == cached.tensors.keys()
    for k, v in cached.tensors.items():
        torch.testing.assert_close(batched.tensors[k], v, atol=1e-5, rtol=1e-4)
    # window 3 of clip 1, fresh vs cached: same latents and the same DiT inputs for the same generator
    i, s = 1, 3
    fresh = {k: v[window_indices(cfg, s)].unsqueeze(0) for k, v in data[i].items()}
    item = {k: v.unsqueeze(0) for k, v in cached[i * n_win + s].items()}
    with torch.no_grad():
        x_f, in_f = model.prepare_batch(fresh, torch.Generator().manual_seed(5))
        x_c, in_c = model.prepare_batch(item, torch.Generator().manual_seed(5))
    torch.testing.assert_close(x_c, x_f, atol=1e-5, rtol=1e-4)
    for a, b in ((in_c.cond, in_f.cond), (in_c.mask, in_f.mask), (in_c.robot_latents, in_f.robot_latents)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    # dropped robot -> the null latents the fresh path encodes for an empty robot
    null = model.encode(torch.full((1, 3, cfg.frames_per_chunk, cfg.height, cfg.width), -1.0), 1)
    torch.testing.assert_close(item["null_robot"], null, atol=1e-5, rtol=1e-4)
    # training from the cache runs (and builds it under out/)
    tc = dataclasses.replace(train_cfg, max_steps=1, checkpoint_every=1, eval_every=0)
    train(cfg, tc, data, tmp_path / "run", progress=False, latent_cache="on")
    assert (tmp_path / "run" / "latent_cache.safetensors").exists() and list_checkpoints(tmp_path / "run")


def test_holdout_applies_to_any_dataset(tiny):
    from robo4d_env.world_model.train import make_dataset
    cfg, _ = tiny
    assert len(make_dataset(ClipDataset(cfg, n=3), cfg, windows="rollout", holdout_episodes=1)) == 2
    with pytest.raises(ValueError, match="windows must be"):
        make_dataset(ClipDataset(cfg, n=3), cfg, windows="strided")


def test_fast_rms_norm_matches_diffusers_vae(tiny):
    """build_vae's sum-of-squares RMS norm (a CPU speed-up) decodes and encodes what diffusers' own does."""
    from diffusers import AutoencoderKLWan

    cfg, _ = tiny
    torch.manual_seed(0)
    fast = build_vae(cfg)
    plain = AutoencoderKLWan(**fast.config)
    plain.load_state_dict(fast.state_dict())
    assert any(type(m).__name__ == "WanRMS_norm" for m in plain.modules())
    assert not any(type(m).__name__ == "WanRMS_norm" for m in fast.modules())
    x = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    with torch.no_grad():
        z_fast, z_plain = fast.encode(x).latent_dist.mode(), plain.encode(x).latent_dist.mode()
        torch.testing.assert_close(z_fast, z_plain, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(fast.decode(z_plain).sample, plain.decode(z_plain).sample, atol=1e-5, rtol=1e-4)


def test_train_set_overrides_build_that_model():
    """`robo4d train --set FIELD=JSON` reaches the model config; unknown fields and bad JSON are named."""
    from robo4d_env.world_model.configuration_world_model import parse_overrides

    over = parse_overrides(["patch_size=[1,1,1]", "num_layers=1"])
    assert over == {"patch_size": [1, 1, 1], "num_layers": 1}
    cfg, _ = get_preset("tiny", **over)
    model = Kinema4DWorldModel.from_world_model_config(cfg)
    assert list(model.transformer.config.patch_size) == [1, 1, 1] and len(model.transformer.blocks) == 1
    with pytest.raises(ValueError, match="patch_sise"):
        parse_overrides(["patch_sise=[1,1,1]"])
    with pytest.raises(ValueError, match="must be JSON"):
        parse_overrides(["pointmap_norm=minmax"])
    with pytest.raises(ValueError, match="patch_size takes a list"):
        parse_overrides(["patch_size=2"])
    assert parse_overrides(["flow_shift=3", "lora_rank=8"]) == {"flow_shift": 3, "lora_rank": 8}


def test_last_context_condition_copies_context_forward(batch):
    """future_condition='last_context': the generated frames' RGB condition is the last context latent
    frame (the XYZ half keeps the robot latents); the model still trains on it."""
    cfg, _ = get_preset("tiny", future_condition="last_context")
    torch.manual_seed(0)
    model = Kinema4DWorldModel.from_world_model_config(cfg)
    x0, inputs = model.prepare_batch(batch, torch.Generator().manual_seed(0))
    n_ctx, w = cfg.context_latent_frames, x0.shape[-1] // 2
    for f in range(n_ctx, inputs.cond.shape[2]):
        torch.testing.assert_close(inputs.cond[:, :, f, :, :w], inputs.cond[:, :, n_ctx - 1, :, :w])
        torch.testing.assert_close(inputs.cond[:, :, f, :, w:], inputs.robot_latents[:, :, f])
    assert torch.isfinite(model.training_loss(batch, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="predict_pointmap"):
        get_preset("tiny", future_condition="last_context", predict_pointmap=False)


def test_unshuffled_mask_keeps_sub_cell_position(batch):
    """mask_packing='unshuffle': each pixel is its own channel (its per-frame mean is the area packing),
    so a robot mask moved inside one latent cell changes the input; the model builds and trains on it."""
    m = torch.zeros(1, 9, 16, 16)
    m[:, :, 1, 1] = 1.0
    shifted = torch.roll(m, 2, dims=-1)                         # same 8 px cell, 2 px to the right
    area, unsh = pack_mask(m, 8, 4), pack_mask(m, 8, 4, unshuffle=True)
    assert torch.equal(pack_mask(m, 8, 4), pack_mask(shifted, 8, 4))
    assert not torch.equal(unsh, pack_mask(shifted, 8, 4, unshuffle=True))
    assert unsh.shape == (1, 4 * 64, 3, 2, 2)
    torch.testing.assert_close(unsh.reshape(1, 4, 64, 3, 2, 2).mean(2), area)
    cfg, _ = get_preset("tiny", mask_packing="unshuffle")
    torch.manual_seed(0)
    model = Kinema4DWorldModel.from_world_model_config(cfg)
    assert cfg.mask_channels == cfg.vae_temporal_factor * cfg.vae_spatial_factor ** 2
    assert torch.isfinite(model.training_loss(batch, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="mask_packing"):
        get_preset("tiny", mask_packing="nearest")


@pytest.mark.parametrize("predict_pointmap", [True, False])
def test_residual_decoding_keeps_what_did_not_change(batch, predict_pointmap):
    """residual_decoding: a sampler that says "nothing moved" (returns the frozen chunk's own latents)
    gives back the context frame exactly, over two chunks (plain decoding would give the VAE's round trip)."""
    clip = {k: v[0] for k, v in batch.items()}
    T = 6
    cfg, _ = get_preset("tiny", num_sampling_steps=1, context_noise_inference=0.0, residual_decoding=True,
                        predict_pointmap=predict_pointmap, contact_radius_m=None, robot_points_from_kinematics=False)
    model = new_model(cfg).eval()
    seen, encode_pair = {}, model.encode_pair

    def record(rgb, xyz):
        seen["z"] = encode_pair(rgb, xyz)
        return seen["z"]
    model.encode_pair = record
    model.sample = lambda inputs, *a, **k: seen["z"]
    out = model.rollout(clip["rgb"][:1], clip["pointmap"][:1], clip["robot_pointmap"][:T], clip["robot_mask"][:T],
                        generator=torch.Generator().manual_seed(0))
    assert torch.equal(out["rgb"], clip["rgb"][:1].expand(T, -1, -1, -1))
    if predict_pointmap:
        torch.testing.assert_close(out["pointmap"], clip["pointmap"][:1].expand(T, -1, -1, -1), atol=1e-5, rtol=0)
    else:
        assert "pointmap" not in out


def test_contact_region_holds_robot_pixels_and_scene_points_within_radius():
    from robo4d_env.world_model.contact_region import contact_region
    H, W = 2, 8
    scene = torch.zeros(1, H, W, 3)
    scene[..., 0] = torch.arange(W) * 0.01                    # a row of table points 1 cm apart along x
    robot_pm, robot_m = torch.zeros(1, 2, H, W, 3), torch.zeros(1, 2, H, W, dtype=torch.bool)
    robot_m[0, 1, 1, 7] = True                                  # the robot covers one pixel in frame 1 ...
    robot_pm[0, 1, 1, 7] = torch.tensor([0.0, 0.0, 0.0])        # ... and sits on scene point x = 0
    region = contact_region(scene, robot_pm, robot_m, radius_m=0.035)[0]
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[:, :4] = True                                      # x = 0, 1, 2, 3 cm < 3.5 cm
    expected[1, 7] = True                                       # covered by the robot
    assert torch.equal(region, expected)
    assert not contact_region(scene, robot_pm, torch.zeros_like(robot_m), 0.035).any()   # no robot: static
    with pytest.raises(ValueError, match="contact_region wants"):
        contact_region(scene[0], robot_pm, robot_m, 0.035)


def test_rollout_keeps_the_known_frame_outside_contact_and_robot_points_exact(batch):
    """contact_radius_m: pixels far from the robot keep the context frame exactly over two chunks;
    robot_points_from_kinematics: the world pointmap is the robot's own where the mask is."""
    clip = {k: v[0] for k, v in batch.items()}
    T = 6
    cfg, _ = get_preset("tiny", num_sampling_steps=1, contact_radius_m=0.05, robot_points_from_kinematics=True)
    model = new_model(cfg).eval()
    H, W = cfg.height, cfg.width
    lo, hi = torch.tensor(cfg.workspace_min), torch.tensor(cfg.workspace_max)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    table = lo + torch.stack([xs, ys, torch.full_like(xs, 0.1)], -1) * (hi - lo)   # a flat table, in the box
    robot_pm = clip["robot_pointmap"][:T + 1].clone()
    robot_pm[clip["robot_mask"][:T + 1]] = table[4, 8] + torch.tensor([0.0, 0.0, 0.02])
    out = model.rollout(clip["rgb"][:1], table[None], robot_pm[1:], clip["robot_mask"][1:T + 1],
                        context_robot_pointmap=robot_pm[:1], context_robot_mask=clip["robot_mask"][:1],
                        generator=torch.Generator().manual_seed(0))
    far = torch.cdist(table.view(-1, 3), table[4, 8][None]).view(H, W) > 0.05 + 0.02
    far &= ~clip["robot_mask"][:T + 1].any(0)
    assert far.float().mean() > 0.5
    assert torch.equal(out["rgb"][:, far], clip["rgb"][0, far].expand(T, -1, -1))
    torch.testing.assert_close(out["pointmap"][:, far], table[far].expand(T, -1, -1), atol=1e-5, rtol=0)
    assert not torch.equal(out["rgb"][:, ~far], clip["rgb"][0, ~far].expand(T, -1, -1))   # generated there
    m = clip["robot_mask"][1:T + 1]
    torch.testing.assert_close(out["pointmap"][m], robot_pm[1:][m], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="contact_radius_m must be a distance"):
        model.rollout(clip["rgb"][:1], table[None], robot_pm[1:], clip["robot_mask"][1:T + 1],
                      contact_radius_m=float("nan"))


def test_rollout_puts_generated_points_on_their_camera_rays(batch):
    """snap_to_camera_rays: with the camera given, every generated world point lies on its pixel's ray
    (only its depth is generated); without the camera, or turned off, the model's raw points are not."""
    from robo4d_env.cameras import look_at
    from robo4d_env.projection import pixel_rays_world, unproject_depth
    clip = {k: v[0] for k, v in batch.items()}
    T = 4
    cfg, _ = get_preset("tiny", num_sampling_steps=1, contact_radius_m=None, robot_points_from_kinematics=False)
    model = new_model(cfg).eval()
    H, W = cfg.height, cfg.width
    K = torch.tensor([[30.0, 0.0, (W - 1) / 2], [0.0, 30.0, (H - 1) / 2], [0.0, 0.0, 1.0]])
    T_wc = torch.as_tensor(look_at([-0.6, 1.2, 1.0], [-0.6, 1.2, 0.0]), dtype=torch.float32)  # above the box
    table = unproject_depth(torch.full((H, W), 0.9), K) @ T_wc[:3, :3].T + T_wc[:3, 3]     # z = 0.1 m
    kw = dict(context_robot_pointmap=clip["robot_pointmap"][:1], context_robot_mask=clip["robot_mask"][:1])
    args = (clip["rgb"][:1], table[None], clip["robot_pointmap"][1:T + 1], clip["robot_mask"][1:T + 1])
    origin, dirs = pixel_rays_world(K, T_wc, H, W)

    def off_ray_m(pm):
        v = pm - origin
        return (v - (v * dirs).sum(-1, keepdim=True) * dirs).norm(dim=-1)

    lo, hi = torch.tensor(cfg.workspace_min), torch.tensor(cfg.workspace_max)
    snapped = model.rollout(*args, **kw, camera_K=K, T_world_cam=T_wc, generator=torch.Generator().manual_seed(0))
    inside = ((snapped["pointmap"] > lo + 1e-4) & (snapped["pointmap"] < hi - 1e-4)).all(-1)  # not clamped to the box
    assert inside.float().mean() > 0.5
    assert off_ray_m(snapped["pointmap"])[inside].max() < 1e-4
    bad_K = K.clone()
    bad_K[0, 0] = float("nan")
    for bad in ({"camera_K": bad_K, "T_world_cam": T_wc}, {"camera_K": K, "T_world_cam": T_wc[:3]},
                {"camera_K": K.expand(2, 3, 3), "T_world_cam": T_wc}):       # two cameras, one rollout
        with pytest.raises(ValueError, match="camera_K"):
            model.rollout(*args, **kw, **bad)
    for off in ({}, {"camera_K": K, "T_world_cam": T_wc, "snap_to_camera_rays": False}):
        raw = model.rollout(*args, **kw, **off, generator=torch.Generator().manual_seed(0))
        assert off_ray_m(raw["pointmap"]).median() > 0.01


def test_occlusion_memory_restores_ghosts_in_front_of_what_was_there_away_from_the_hand():
    from robo4d_env.world_model.occlusion_memory import OcclusionMemory
    W = 6                                        # one row of pixels 1 cm apart, camera at the origin looking +z
    row = lambda z: torch.stack([0.01 * torch.arange(W, dtype=torch.float32), torch.zeros(W),  # noqa: E731
                                 torch.as_tensor(z, dtype=torch.float32).expand(W)], -1)
    to_m = lambda x: x.permute(0, 2, 3, 4, 1)    # noqa: E731  (identity units: metres)
    from_m = lambda pm: pm.permute(0, 4, 1, 2, 3)   # noqa: E731
    as_x = lambda pm: pm.permute(3, 0, 1, 2)[None]   # noqa: E731  (F, H, W, 3) -> (1, 3, F, H, W)
    rays = (torch.zeros(1, 3), torch.nn.functional.normalize(row(1.0), dim=-1)[None, None])
    known = torch.stack([row(1.0), row(1.2)])[:, None]                     # 2 known frames, H = 1
    known[:, 0, 5] = torch.tensor([0.05, 0.0, 0.7])                        # pixel 5: the robot, 0.7 m away
    robot_then = torch.zeros(1, 2, 1, W, dtype=torch.bool)
    robot_then[0, 1, 0, 1] = True                # pixel 1: robot in the later frame -> remembers frame 0's
    robot_then[0, :, 0, 5] = True                # pixel 5: never seen without the robot

    def clean(gen, tcp, robot_now, tol=0.05):    # gen (F, 1, W, 3) -> generated z after ghost removal
        mem = OcclusionMemory(as_x(known), robot_then, torch.ones_like(robot_then), to_m, from_m, rays)
        return to_m(mem.remove_ghosts(as_x(gen), robot_now, tcp, tol, 0.005))[0, :, 0, :, 2]

    gen = row(0.9)[None, None].clone()          # every pixel generated in front of what was there
    gen[0, 0, 2, 2] = 1.5                        # pixel 2: behind it (as if something was taken away)
    robot_now = torch.zeros(1, 1, 1, W, dtype=torch.bool)
    robot_now[0, 0, 0, 3] = True                 # pixel 3: the robot now
    far = torch.tensor([[[5.0, 0.0, 0.9]]])      # the hand never near: nothing appears or goes away
    expected = torch.tensor([1.2, 1.0, 1.2, 0.9, 1.2, 1.2])   # pixel 5: its neighbour's surface
    torch.testing.assert_close(clean(gen, far, robot_now)[0], expected, atol=2e-3, rtol=0)
    at_4 = torch.tensor([[[0.04, 0.0, 0.9]]])    # the hand at pixel 4: what it holds stays
    expected[4] = 0.9
    torch.testing.assert_close(clean(gen, at_4, robot_now)[0], expected, atol=2e-3, rtol=0)
    at_2 = torch.tensor([[[0.02, 0.0, 1.2]]])    # the hand at pixel 2's surface: it may have taken it away
    torch.testing.assert_close(clean(gen, at_2, robot_now)[0, 2], torch.tensor(1.5))
    assert clean(gen, far, robot_now, tol=0.15)[0, 1] == 0.9     # 0.1 m in front, within 0.15 m
    # An object put down at pixel 4 (hand there in frame 0) stays after the hand leaves (frame 1).
    out = clean(torch.cat([gen, gen]), torch.cat([at_4, far], 1), robot_now.expand(1, 2, 1, W))
    torch.testing.assert_close(out[:, 4], torch.tensor([0.9, 0.9]))
    torch.testing.assert_close(out[1, :3], torch.tensor([1.2, 1.0, 1.2]))


def test_rollout_removes_arm_ghosts_only_when_given_the_hand(batch):
    """ghost_tolerance_m: no generated non-robot point lies in front of or behind the known table with the hand
    far away; an untrained model's points do, when the tool-centre points are not given."""
    from robo4d_env.cameras import look_at
    from robo4d_env.projection import pixel_rays_world, unproject_depth
    clip = {k: v[0] for k, v in batch.items()}
    T = 4
    cfg, _ = get_preset("tiny", num_sampling_steps=1, contact_radius_m=None, robot_points_from_kinematics=True,
                        ghost_tolerance_m=0.02, carry_radius_m=0.05)
    model = new_model(cfg).eval()
    H, W = cfg.height, cfg.width
    K = torch.tensor([[30.0, 0.0, (W - 1) / 2], [0.0, 30.0, (H - 1) / 2], [0.0, 0.0, 1.0]])
    T_wc = torch.as_tensor(look_at([-0.6, 1.2, 1.0], [-0.6, 1.2, 0.0]), dtype=torch.float32)
    table = unproject_depth(torch.full((H, W), 0.9), K) @ T_wc[:3, :3].T + T_wc[:3, 3]     # z = 0.1 m
    rm = clip["robot_mask"][:T + 1]
    robot_pm = torch.where(rm[..., None], table + torch.tensor([0.0, 0.0, 0.3]), torch.zeros(3))
    args = (clip["rgb"][:1], table[None], robot_pm[1:], rm[1:])
    kw = dict(context_robot_pointmap=robot_pm[:1], context_robot_mask=rm[:1], camera_K=K, T_world_cam=T_wc)
    origin = pixel_rays_world(K, T_wc, H, W)[0]
    tcp = torch.tensor([[5.0, 5.0, 5.0]]).expand(T, 3)        # far from the table

    def off_table_m(pm):                 # on pixels seen without the robot (frame 0) and not the robot now
        return ((table - origin).norm(dim=-1) - (pm - origin).norm(dim=-1)).abs()[~rm[1:] & ~rm[:1]]

    raw = model.rollout(*args, **kw, generator=torch.Generator().manual_seed(0))
    assert off_table_m(raw["pointmap"]).max() > 0.05
    clean = model.rollout(*args, **kw, tcp_world=tcp, generator=torch.Generator().manual_seed(0))
    assert off_table_m(clean["pointmap"]).max() <= 0.02 + 1e-4
    torch.testing.assert_close(clean["rgb"][:, :, :1], raw["rgb"][:, :, :1], atol=255, rtol=0)   # colour untouched
    off = model.rollout(*args, **kw, tcp_world=tcp, ghost_tolerance_m=-1.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(off["pointmap"], raw["pointmap"])
    for bad in (tcp[:, :2], tcp[:-1], torch.full_like(tcp, float("nan"))):
        with pytest.raises(ValueError, match="tcp_world"):
            model.rollout(*args, **kw, tcp_world=bad)
    with pytest.raises(ValueError, match="ghost_tolerance_m must be a distance"):
        model.rollout(*args, **kw, tcp_world=tcp, ghost_tolerance_m=float("nan"))
    for field, bad in (("ghost_tolerance_m", float("nan")), ("carry_radius_m", -0.1),
                       ("grasp_scene_tolerance_m", -0.01), ("robot_fingers", "closed")):
        with pytest.raises(ValueError, match=field):
            get_preset("tiny", **{field: bad})
