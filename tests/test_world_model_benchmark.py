"""Rollout-layout training windows, the benchmark's ablation variants, and benchmarks.world_model end to
end, on a real (tiny) lift dataset and the tiny preset."""
import dataclasses
import json

import pytest
import torch

from robo4d_env.data.generate import GenerateConfig, generate
from robo4d_env.world_model import get_preset
from robo4d_env.world_model.train import VARIANTS, train
from robo4d_env.world_model.windows import RolloutWindowDataset, rollout_window_indices

STEPS = 9                  # control steps per episode -> 10 frames


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("wm_data")
    cfg = GenerateConfig(task="lift", episodes=1, out=str(out), resolution=32, perturbed_per_demo=1,
                         episodes_per_shard=1, max_episode_steps=STEPS, run_to_horizon=True, perturb_failed=True,
                         randomize=False)
    assert generate(cfg, progress=False)["episodes"] == 2
    return out


def test_rollout_windows_match_the_rollout_layout(data):
    cfg, _ = get_preset("tiny")
    ds = RolloutWindowDataset(data, cfg, known_stride=1)
    assert [e.n_frames for e in ds.data.episodes] == [STEPS + 1] * 2      # run_to_horizon: full length
    assert len(ds) == 2 * STEPS                                            # n_known = 1..STEPS per episode
    full = ds.data.frames(0, torch.arange(STEPS + 1).numpy())
    for i in (0, 3, STEPS - 1):
        e, n = ds.index[i]
        idx = rollout_window_indices(cfg, n, STEPS + 1)
        assert idx[0] == 0 and (idx[cfg.context_frames:] >= min(n, STEPS)).all()
        torch.testing.assert_close(ds[i]["rgb"], full["rgb"][idx])
    assert len(RolloutWindowDataset(data, cfg, known_stride=2, holdout_episodes=1)) == (STEPS + 1) // 2


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_train_from_data_and_roll_out(data, tmp_path, variant):
    cfg, tc = get_preset("tiny", **VARIANTS[variant])
    tc = dataclasses.replace(tc, max_steps=2, checkpoint_every=2, eval_every=2, batch_size=2)
    path = train(cfg, tc, data, tmp_path / variant, progress=False, latent_cache="on")
    from robo4d_env.world_model import load_world_model
    from robo4d_env.world_model.modeling_world_model import action_vectors
    model = load_world_model(path).eval()
    ep = RolloutWindowDataset(data, cfg).data.frames(0, torch.arange(STEPS + 1).numpy())
    kw = {}
    if variant == "action":
        a = action_vectors(ep["q_cmd"], ep["finger_cmd"])
        with pytest.raises(ValueError, match="conditioned on actions"):
            model.rollout(ep["rgb"][:1], ep["pointmap"][:1], ep["robot_pointmap"][1:], ep["robot_mask"][1:])
        kw = {"context_actions": a[:1], "actions": a[1:]}
    out = model.rollout(ep["rgb"][:1], ep["pointmap"][:1], ep["robot_pointmap"][1:], ep["robot_mask"][1:],
                        generator=torch.Generator().manual_seed(0), **kw)
    assert out["rgb"].shape == (STEPS, 32, 32, 3)
    assert ("pointmap" in out) == (variant != "rgb_only")


def test_world_model_benchmark_end_to_end(data, tmp_path):
    from benchmarks import world_model as bench
    cfg, tc = get_preset("tiny")
    tc = dataclasses.replace(tc, max_steps=1, eval_every=0)
    ours = train(cfg, tc, data, tmp_path / "ours", progress=False)
    rgb_cfg, _ = get_preset("tiny", **VARIANTS["rgb_only"])
    rgb_only = train(rgb_cfg, tc, data, tmp_path / "rgb", progress=False)
    out = tmp_path / "r.json"
    assert bench.main(["--out", str(out), "--data", str(data), "--method", f"kinema4d={ours}",
                       "--method", f"rgb_only={rgb_only}", "--chunks", "2", "--episodes", "2", "--batch", "2",
                       "--artifacts", str(tmp_path / "art")]) == 0
    r = json.loads(out.read_text())
    assert set(r["results"]) == {"kinema4d", "rgb_only", "copy_last_frame", "paste_robot"}
    chunks = r["results"]["kinema4d"]["per_chunk"]
    assert [c["chunk"] for c in chunks] == [0, 1] and all(c["chamfer_l1_m"] > 0 for c in chunks)
    assert r["results"]["rgb_only"]["overall"]["depth_absrel"] is None        # no pointmap output
    assert r["results"]["paste_robot"]["overall"]["psnr"] > r["results"]["copy_last_frame"]["overall"]["psnr"]
    assert r["lpips"] is None and "offline" in r["lpips_reason"]
    assert r["sample_ms_per_frame_b8"] > 0 and r["train_step_s"] > 0
    assert (tmp_path / "art" / "side_by_side.mp4").stat().st_size > 0 and (tmp_path / "art" / "per_chunk.png").exists()
