"""Robo4D dataset: generation, failure synthesis, shards, resume, loader, inspect, bad input.

Episodes are cut to a few control steps (``max_episode_steps``) at 32 px so the file runs in about
a minute; ``perturb_failed`` lets the truncated (hence failed) demos still produce perturbed replays.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from robo4d_env.cli import main
from robo4d_env.data.dataset import MissingKeysError, Robo4DDataset, clip_indices
from robo4d_env.data.generate import (GenerateConfig, PerturbationConfig, generate, perturb_actions,
                                      perturbation_plan, split_seeds)
from robo4d_env.data.storage import atomic_shard, list_shards

STEPS = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    cfg = GenerateConfig(task="lift", episodes=2, out=str(out), resolution=32, perturbed_per_demo=1,
                         episodes_per_shard=1, extra_cameras=1, max_episode_steps=STEPS, perturb_failed=True)
    summary = generate(cfg, progress=False)
    assert summary["episodes"] == 4 and summary["perturbed"] == 2
    return out


def test_layout_and_attrs(tiny):
    shards = list_shards(tiny)
    assert [p.name for p in shards] == ["lift-00000.hdf5", "lift-00001.hdf5"]
    assert not list(tiny.glob("*.partial*"))
    with h5py.File(shards[0], "r") as f:
        data = f["data"]
        assert json.loads(data.attrs["env_args"])["env_name"] == "Robo4DSim-v0"
        assert data.attrs["total"] == 2 * STEPS and sorted(data) == ["demo_0", "demo_1"]
        g = data["demo_1"]
        T = g.attrs["num_samples"]
        assert g["actions"].shape == (T, 7) and g["actions"].dtype == np.float32
        for cam in ("main", "shell0"):
            assert g[f"obs/{cam}_rgb"].shape == (T + 1, 32, 32, 3) and g[f"obs/{cam}_rgb"].dtype == np.uint8
            assert g[f"obs/{cam}_pointmap"].dtype == np.float16
            assert g[f"obs/{cam}_robot_pointmap"].dtype == np.float16
            assert g[f"obs/{cam}_valid"].dtype == bool and g[f"obs/{cam}_robot_mask"].dtype == bool
            assert g.attrs[f"{cam}_K"].shape == (3, 3) and g.attrs[f"{cam}_T_world_cam"].shape == (4, 4)
        assert not np.allclose(g.attrs["main_K"], g.attrs["shell0_K"])      # own intrinsics per view
        for key, dim in (("joint_states", 7), ("q_cmd", 7), ("ee_pos", 3), ("ee_quat", 4)):
            assert g[f"obs/{key}"].shape == (T + 1, dim)
        assert g["obs/finger_cmd"].shape == (T + 1,)
        pert = json.loads(g.attrs["perturbation"])
        assert pert["type"] == "segment_noise" and pert["sigma"] == 0.5 and g.attrs["seed"] == 0
        assert json.loads(data["demo_0"].attrs["perturbation"]) == {"type": "none"}
        assert "object_rgb" in json.loads(g.attrs["scene"])
        # Same seed, same initial state: the replay starts where the demo started.
        np.testing.assert_array_equal(data["demo_0/obs/main_rgb"][0], g["obs/main_rgb"][0])
        # The world pointmap sits around the table top (z ~ 0.8 m in the world frame).
        pm, valid = g["obs/main_pointmap"][0].astype(np.float32), g["obs/main_valid"][0]
        assert 0.5 < np.median(pm[valid][:, 2]) < 1.2


def test_loader_windows_and_stats(tiny):
    ds = Robo4DDataset(tiny, context_frames=1, clip_frames=5)
    assert len(ds) == 4 and ds.future_frames == 4
    x = ds[1]
    assert x["rgb"].shape == (5, 32, 32, 3) and x["rgb"].dtype == torch.uint8
    assert x["pointmap"].shape == (5, 32, 32, 3) and x["pointmap"].dtype == torch.float32
    assert x["valid"].dtype == torch.bool and x["robot_mask"].shape == (5, 32, 32)
    assert x["robot_pointmap"].shape == (5, 32, 32, 3)
    assert x["actions"].shape == (4, 7) and x["K"].shape == (3, 3) and x["T_world_cam"].shape == (4, 4)
    assert x["frame_index"][0] == 0 and x["frame_index"][-1] == STEPS and x["perturbed"]
    multi = Robo4DDataset(tiny, context_frames=2, future_frames=1, clip_frames=4, cameras=("main", "shell0"))
    y = multi[0]
    assert len(multi) == 4 * 2 and y["rgb"].shape == (2, 3, 32, 32, 3) and y["K"].shape == (2, 3, 3)
    assert len(Robo4DDataset(tiny, kind="perturbed")) == 2
    st = ds.stats
    for key in ("pointmap", "robot_pointmap"):
        assert set(st[key]) == {"min", "max", "mean", "std", "count"} and len(st[key]["mean"]) == 3
        assert st[key]["count"] > 0 and all(s > 0 for s in st[key]["std"])
    assert list(tiny.glob("*.stats.json"))
    assert Robo4DDataset(tiny, clip_frames=5).stats == st      # from the cache (exact JSON floats)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["rgb"].shape == (2, 5, 32, 32, 3)


def test_frames_in_any_order_with_repeats(tiny):
    """Rollout windows read scattered frames (frame 0, then a run, repeats past the end): the same rows as
    reading frame by frame."""
    ds = Robo4DDataset(tiny, context_frames=1, future_frames=0, clip_frames=1)
    idx = np.array([0, 3, 2, 3, 4, 4, 1])
    got = ds.frames(1, idx)
    for j, i in enumerate(idx):
        one = ds.frames(1, np.array([i]))
        for k in ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask", "q_cmd"):
            torch.testing.assert_close(got[k][j], one[k][0])


def test_clip_indices():
    idx = clip_indices(120, 17)
    assert len(idx) == 17 and idx[0] == 0 and idx[-1] == 119 and np.all(np.diff(idx) > 0)
    short = clip_indices(5, 17)
    assert len(short) == 17 and short[-1] == 4 and np.all(np.diff(short) >= 0)


def test_perturbation_is_cumulative_and_spares_gripper():
    cfg = PerturbationConfig()
    T = 30
    actions = np.zeros((T, 7), np.float32)
    actions[:, :3] = [0.5, 0.0, 0.2]
    actions[:, 3:6] = [np.pi, 0.0, 0.0]          # top-down TCP
    actions[:, 6] = np.where(np.arange(T) > 15, 1.0, -1.0)
    plan = perturbation_plan(seed=3, n=9, cfg=cfg)
    assert {(p["segment"], p["sigma"]) for p in plan} == {(s, g) for s in range(3) for g in cfg.sigmas}
    p = plan[1]                                  # segment 1: steps 10..19
    out = perturb_actions(actions, p, cfg)
    np.testing.assert_array_equal(out[:, 6], actions[:, 6])
    np.testing.assert_allclose(out[:10], actions[:10], atol=1e-6)
    drift = out[:, :3] - actions[:, :3]
    assert np.abs(drift[19]).max() > 0 and np.allclose(drift[20:], drift[19], atol=1e-6)
    np.testing.assert_array_equal(out, perturb_actions(actions, p, cfg))       # deterministic


def test_split_seeds():
    assert split_seeds("train", 3) == range(0, 3) and split_seeds("eval", 2)[0] == 10_000
    with pytest.raises(ValueError):
        split_seeds("train", 10_001)


def test_atomic_shard_leaves_nothing_on_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_shard(tmp_path / "x.hdf5", {}) as data:
            data.create_dataset("a", data=np.zeros(3))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_kill_and_resume(tmp_path):
    out = tmp_path / "ds"
    args = ["data", "generate", "--task", "lift", "--episodes", "3", "--episodes-per-shard", "1",
            "--perturbed-per-demo", "1", "--perturb-failed", "--max-steps", "3", "--resolution", "32",
            "--no-randomize", "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "robo4d_env.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "MUJOCO_GL": "egl"})
    try:
        deadline = time.monotonic() + 300
        while not list_shards(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert list_shards(out), "the first shard should have completed before the kill"
    assert main(args) == 2                       # without --resume: refuses to touch the dataset
    # a manifest written before a setting existed (here robot_pointmap_from) resumes with that setting's default
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.pop("robot_pointmap_from")
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main([*args, "--resume"]) == 0
    names = []
    for p in list_shards(out):
        with h5py.File(p, "r") as f:
            names += list(f["data"])
    assert sorted(names) == [f"demo_{k}" for k in range(6)]          # 3 demos x (1 + 1), once each
    assert not list(out.glob("*.partial*"))


def test_bad_input_fails_before_work(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["data", "generate", "--task", "nope", "--out", str(out)]) == 2
    assert "Unknown task 'nope'" in capsys.readouterr().err and not out.exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["data", "generate", "--out", str(blocker / "sub")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_libero_layout_names_missing_keys(tmp_path):
    path = tmp_path / "libero_demo.hdf5"
    with h5py.File(path, "w") as f:
        g = f.create_group("data/demo_0")
        g.create_dataset("actions", data=np.zeros((10, 7), np.float32))
        g.create_dataset("obs/agentview_rgb", data=np.zeros((10, 8, 8, 3), np.uint8))
        g.create_dataset("obs/joint_states", data=np.zeros((10, 7), np.float32))
    with pytest.raises(MissingKeysError) as e:
        Robo4DDataset(path)
    msg = str(e.value)
    assert str(path) in msg and "demo_0" in msg and "obs/main_pointmap" in msg and "obs/agentview_rgb" in msg
    assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)


def test_inspect(tiny, tmp_path, capsys):
    video = tmp_path / "sheet.mp4"
    assert main(["data", "inspect", str(tiny), "--video", str(video), "--episodes", "2", "--frames", "3"]) == 0
    text = capsys.readouterr().out
    assert "episodes 4" in text and "perturbed 0/2" in text and video.stat().st_size > 0


def test_subset_copies_the_first_episodes_across_shards(tiny, tmp_path, capsys):
    """``robo4d data subset``: the first N episodes in shard order, identical data, readable by the loader."""
    out = tmp_path / "sub"
    assert main(["data", "subset", str(tiny), "--episodes", "3", "--out", str(out)]) == 0
    (dest,) = list_shards(out)
    src = [(p, n) for p in list_shards(tiny) for n in sorted(h5py.File(p)["data"], key=lambda n: (len(n), n))][:3]
    with h5py.File(dest) as f:
        assert f["data"].attrs["num_episodes"] == 3
        assert f["data"].attrs["total"] == sum(f["data"][f"demo_{i}"].attrs["num_samples"] for i in range(3))
        for i, (p, n) in enumerate(src):
            with h5py.File(p) as g:
                assert np.array_equal(f["data"][f"demo_{i}/obs/main_rgb"][()], g["data"][n]["obs/main_rgb"][()])
    assert len(Robo4DDataset([out], context_frames=1, clip_frames=2).episodes) == 3
    # asking for more episodes than exist: a clear error, and no file left behind
    assert main(["data", "subset", str(tiny), "--episodes", "99", "--out", str(tmp_path / "none")]) == 2
    assert "fewer than --episodes 99" in capsys.readouterr().err and not list_shards(tmp_path / "none")


def test_robot_fingers_of_the_data_and_a_mix_refused(tiny, tmp_path):
    """A world model learns the finger opening its data draws: `robo4d train` reads it from the manifests
    (commanded by default, measured with --robot-pointmap measured_fingers) and refuses a mix."""
    from robo4d_env.data.dataset import robot_fingers
    assert robot_fingers(tiny) == "commanded"
    measured = tmp_path / "measured"
    measured.mkdir()
    manifest = json.loads((tiny / "manifest.json").read_text())
    (measured / "manifest.json").write_text(json.dumps({**manifest, "robot_pointmap_from": "measured_fingers"}))
    for shard in list_shards(tiny)[:1]:
        (measured / shard.name).write_bytes(shard.read_bytes())
    assert robot_fingers(measured) == "measured"
    with pytest.raises(ValueError, match="mixes robot pointmaps"):
        robot_fingers([tiny, measured])
    from robo4d_env.world_model.configuration_world_model import get_preset
    from robo4d_env.world_model.train import with_data_fingers
    assert with_data_fingers(get_preset("tiny")[0], [measured]).robot_fingers == "measured"
    with pytest.raises(ValueError, match="robot_pointmap_from must be one of"):
        import gymnasium as gym
        gym.make("Robo4DSim-v0", task="lift", robot_pointmap_from="measured_finger")
