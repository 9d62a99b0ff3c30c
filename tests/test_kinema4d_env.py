import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from robo4d_env.cameras import CameraSpec, make_camera
from robo4d_env.envs.initial_frames import from_user_image
from robo4d_env.envs.kinema4d_env import ASSETS
from robo4d_env.success import DetectorConfig, SuccessTracker, detect, detector_config, object_top_m
from robo4d_env.world_model.configuration_world_model import get_preset
from robo4d_env.world_model.modeling_world_model import CheckpointMismatchError, Kinema4DWorldModel

RES = 32


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg, _ = get_preset("tiny")
    path = tmp_path_factory.mktemp("wm") / "tiny"
    Kinema4DWorldModel.from_world_model_config(cfg).save_pretrained(path)
    return path


def user_frame(res: int = RES):
    """A flat table 1 m in front of a camera looking down at the robot's workspace."""
    cam = make_camera(CameraSpec("main", (0.3, -0.5, 1.22), (-0.04, 0.0, 0.88), 45.0), res, res)
    rgb = np.full((res, res, 3), 200, np.uint8)
    depth = np.full((res, res), 0.9, np.float32)
    T_world_base = np.eye(4)
    T_world_base[:3, 3] = (-0.56, 0.0, 0.912)
    q = np.array([0.0, 0.196, 0.0, -2.618, 0.0, 2.942, 0.785], np.float32)
    return from_user_image(rgb, cam.K, cam.T_world_cam, T_world_base, q, depth=depth)


@pytest.fixture(scope="module")
def gen_env(tiny_checkpoint):
    env = gym.make("Kinema4D-v0", task="lift", resolution=RES, checkpoint=str(tiny_checkpoint),
                   init_source="image", action_chunk=2, num_inference_steps=1)
    yield env
    env.close()


def test_check_env_on_tiny_preset(gen_env):
    frame = user_frame()
    env = gen_env.unwrapped
    orig = env._initial_frame
    env._initial_frame = lambda seed, options: frame      # check_env resets without options
    try:
        check_env(env, skip_render_check=True)
    finally:
        env._initial_frame = orig


def test_same_seed_same_rollout(gen_env):
    def run():
        obs, _ = gen_env.reset(seed=3, options={"frame": user_frame()})
        a = np.tile(np.array([0.2, 0, -0.2, 0, 0, 0, -1], np.float32), (2, 1))
        obs, _, _, _, info = gen_env.step(a)
        return info["frames"]["rgb"], obs["pointmap"]
    (r1, p1), (r2, p2) = run(), run()
    assert r1.shape == (2, RES, RES, 3)
    assert np.array_equal(r1, r2) and np.array_equal(p1, p2)


def test_robot_pointmap_follows_the_commanded_arm(gen_env):
    obs0, _ = gen_env.reset(seed=0, options={"frame": user_frame()})
    a = np.tile(np.array([0, 1, 0, 0, 0, 0, -1], np.float32), (2, 1))     # 10 cm sideways
    obs1, *_ = gen_env.step(a)
    assert obs0["robot_mask"].sum() > 0
    assert not np.array_equal(obs0["robot_mask"], obs1["robot_mask"])
    assert obs1["proprio"][10] > obs0["proprio"][10] + 0.05                # TCP y, base frame


def test_step_before_reset_and_bad_actions(tiny_checkpoint):
    env = gym.make("Kinema4D-v0", task="lift", resolution=RES, checkpoint=str(tiny_checkpoint),
                   init_source="image", num_inference_steps=1)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(7, np.float32))
    env.reset(seed=0, options={"frame": user_frame()})
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(7, np.nan, np.float32))
    env.close()


def test_step_after_truncation_needs_reset(tiny_checkpoint):
    env = gym.make("Kinema4D-v0", task="lift", resolution=RES, checkpoint=str(tiny_checkpoint),
                   init_source="image", num_inference_steps=1, horizon=1)
    env.reset(seed=0, options={"frame": user_frame()})
    *_, truncated, _ = env.step(np.zeros(7, np.float32))
    assert truncated
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(7, np.float32))


def test_missing_and_mismatched_checkpoints(tmp_path, tiny_checkpoint):
    with pytest.raises(FileNotFoundError, match="robo4d train"):
        gym.make("Kinema4D-v0", task="lift", resolution=RES, checkpoint=str(tmp_path / "none"))
    with pytest.raises(CheckpointMismatchError, match="height"):
        gym.make("Kinema4D-v0", task="lift", resolution=64, checkpoint=str(tiny_checkpoint))


def test_user_image_errors():
    cam = make_camera(CameraSpec("main", (1, 0, 1), (0, 0, 0.8)), RES, RES)
    rgb = np.zeros((RES, RES, 3), np.uint8)
    with pytest.raises(ValueError, match="resize"):
        from_user_image(rgb, cam.K, cam.T_world_cam, np.eye(4), np.zeros(7), resolution=64)
    with pytest.raises(ValueError, match="principal point"):
        from_user_image(rgb, cam.K * [[1, 1, 10], [1, 1, 10], [1, 1, 1]], cam.T_world_cam, np.eye(4), np.zeros(7))
    with pytest.raises(ValueError, match="depth"):
        from_user_image(rgb, cam.K, cam.T_world_cam, np.eye(4), np.zeros(7), depth=np.ones((4, 4)))


def sim_frame(env, obs, info_cams):
    """The detector's frame of a Robo4DSim-v0 observation (world-frame TCP from the commanded joints)."""
    u = env.unwrapped
    T_wb = u.T_world_base
    tcp = T_wb[:3, :3] @ u.robot.fk(u.commander.q_cmd[None])[0, :3, 3].numpy() + T_wb[:3, 3]
    return {k: np.copy(v) for k, v in {**obs, "T_world_cam": info_cams["main"]["T_world_cam"],
                                       "finger_m": u.commander.finger_m, "tcp_world": tcp}.items()}


LIFT_SETTLE_STEPS = 4


def test_lift_detector_on_ground_truth_frames():
    """On real simulator frames: the detector says no at reset and yes once the expert has lifted."""
    from robo4d_env.experts import make_expert
    env = gym.make("Robo4DSim-v0", task="lift", action_mode="ee_abs", terminate_on_success=False)
    obs, info = env.reset(seed=11)
    info_cams = info["cameras"]
    frame = lambda obs, info: sim_frame(env, obs, info_cams)  # noqa: E731
    initial = frame(obs, info)
    assert not detect("lift", initial, reference=initial)
    with pytest.raises(ValueError, match="initial frame"):
        detect("lift", initial)
    with pytest.raises(ValueError, match="colour"):
        detect("lift", {k: v for k, v in initial.items() if k != "rgb"}, reference=initial)
    expert = make_expert(env)
    expert.reset()
    lifted_steps = 0            # the rule sees the cube gone from its spot a few frames after the predicate
    while lifted_steps < LIFT_SETTLE_STEPS:
        obs, _, term, trunc, info = env.step(expert.act(obs))
        assert not trunc, "the expert did not lift the cube"
        lifted_steps += bool(info["is_success"])
    assert info["is_success"] and detect("lift", frame(obs, info), reference=initial)
    # episode success needs consecutive detections: a one-frame blip (e.g. an occluded cube) is not one
    lifted = frame(obs, info)
    resting = frame(*env.reset(seed=11))
    tracker = SuccessTracker("lift", DetectorConfig(min_consecutive_frames=2))
    tracker.reset(reference=initial)
    assert [tracker.update(f) for f in (lifted, resting, lifted, lifted)] == [False, False, False, True]
    # a cube the colour of the table: the XYZ rule decides alone, and still sees lifted vs resting
    grey = lambda f: {**f, "rgb": np.full_like(f["rgb"], 128)}  # noqa: E731
    assert detect("lift", grey(lifted), reference=grey(initial))
    held_state = {"tcp_world": lifted["tcp_world"], "finger_m": lifted["finger_m"]}
    assert not detect("lift", {**grey(initial), **held_state}, reference=grey(initial))
    env.close()


def test_vector_env_matches_single_envs(tiny_checkpoint):
    kw = dict(task="lift", resolution=RES, checkpoint=str(tiny_checkpoint), init_source="image",
              num_inference_steps=1, action_chunk=2, horizon=4)
    venv = gym.make_vec("Kinema4D-v0", num_envs=2, vectorization_mode="vector_entry_point", **kw)
    frame = user_frame()
    vobs, _ = venv.reset(seed=5, options={"frame": frame})
    acts = np.stack([np.tile(np.array([0.3, 0, 0, 0, 0, 0, -1], np.float32), (2, 1)),
                     np.tile(np.array([0, 0.3, 0, 0, 0, 0, -1], np.float32), (2, 1))])
    steps = [venv.step(acts) for _ in range(3)]              # horizon 4 = 2 steps of 2; the 3rd autoresets
    vsteps = [s[0] for s in steps]
    assert steps[1][3].all() and not steps[2][3].any()       # truncated, then reset with reward 0
    np.testing.assert_array_equal(vsteps[2]["rgb"], vobs["rgb"])
    for i in range(2):
        env = gym.make("Kinema4D-v0", **kw)
        obs, _ = env.reset(seed=5 + i, options={"frame": frame})
        np.testing.assert_array_equal(vobs["rgb"][i], obs["rgb"])
        for k in range(2):
            obs, *_ = env.step(acts[i])
            # Equal up to float rounding of batched kernels (at most 1 grey level, 0.1 mm).
            diff = np.abs(vsteps[k]["rgb"][i].astype(int) - obs["rgb"].astype(int))
            assert diff.max() <= 1 and (diff > 0).mean() < 0.01
            np.testing.assert_allclose(vsteps[k]["pointmap"][i], obs["pointmap"], atol=1e-4)
        env.close()
    venv.close()


def test_policy_eval_benchmark_runs_end_to_end(tmp_path, tiny_checkpoint):
    import json
    import subprocess
    import sys
    out = tmp_path / "pe.json"
    subprocess.run([sys.executable, "-m", "benchmarks.policy_eval", "--out", str(out), "--episodes", "1",
                    "--setups", "2", "--checkpoint", str(tiny_checkpoint), "--resolution", str(RES),
                    "--horizon", "8", "--sampling-steps", "1"], check=True)
    res = json.loads(out.read_text())
    for mode in ("replay", "closed_loop"):
        assert set(res[mode]["setups"]) == {"expert", "noise_2cm"}
        assert 0.0 <= res[mode]["mean_abs_diff"] <= 1.0
    assert (tmp_path / "pe.md").exists() and (tmp_path / "pe_scatter.png").exists()
    assert (tmp_path / "pe_expert.mp4").stat().st_size > 0
    # Scripted policies ignore frames: closed loop feeds replay's chunks, so replay reuses its episode.
    assert res["replay_reused"] == {"expert": 1, "noise_2cm": 1}
    assert "expert 1/1" in (tmp_path / "pe.md").read_text()


def test_policy_eval_reuses_closed_loop_only_for_the_same_calls():
    from benchmarks.policy_eval import replay_chunks, same_calls
    actions = np.arange(10 * 7, dtype=np.float32).reshape(10, 7)
    todo = replay_chunks(actions, 4)
    assert [c.shape for c in todo] == [(4, 7)] * 3 and np.array_equal(todo[-1][-1], actions[-1])
    assert same_calls(todo, todo) and same_calls(todo[:2], todo)         # ended early: terminated
    other = [c.copy() for c in todo]
    other[1][0, 0] += 1e-3                                               # a policy that read a frame
    assert not same_calls(other, todo)
    assert not same_calls(todo + [todo[-1]], todo)                       # ran past replay's end


def test_policy_eval_real_rollout_runs_past_first_success():
    """Replay gets the real actions to the horizon: cut at the first success frame, a successful policy
    would leave the generated world no frames to show it, while a failing one replays to the end."""
    from benchmarks.policy_eval import make_real_env, run_real
    from policies.scripted import SETUPS, ScriptedPolicy
    horizon = 48
    env = make_real_env("lift", RES, horizon)
    ok, actions, frames = run_real(env, ScriptedPolicy(SETUPS["lift"][0]), seed=10000)
    assert ok and len(actions) == horizon and len(frames) == horizon + 1
    env.close()


def test_corrupt_checkpoint_names_file_and_fix(tmp_path, tiny_checkpoint):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(tiny_checkpoint, bad)
    weights = bad / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])            # a truncated copy
    with pytest.raises(ValueError, match="robo4d train"):
        gym.make("Kinema4D-v0", task="lift", resolution=RES, checkpoint=str(bad))


def test_stack_detector_on_ground_truth_frames():
    """On real simulator frames: not stacked at reset nor while A is carried closed over B; stacked once
    the expert has released A on B; episode success takes stack's own frame count."""
    from robo4d_env.experts import make_expert
    cfg = detector_config("stack")
    assert cfg.min_consecutive_frames != DetectorConfig().min_consecutive_frames
    env = gym.make("Robo4DSim-v0", task="stack", action_mode="ee_abs", terminate_on_success=False)
    obs, info = env.reset(seed=3)
    cams = info["cameras"]
    initial = sim_frame(env, obs, cams)
    with pytest.raises(ValueError, match="initial frame"):
        detect("stack", initial)
    tracker = SuccessTracker("stack")
    tracker.reset(reference=initial)
    assert not tracker.update(initial)
    expert = make_expert(env)
    expert.reset()
    frames, sim_success, tracked = [], [], []
    while len(sim_success) < 90 and sum(sim_success) < 6:
        obs, _, _, trunc, info = env.step(expert.act(obs))
        frames.append(sim_frame(env, obs, cams))
        sim_success.append(info["is_success"])
        tracked.append(tracker.update(frames[-1]))
    assert any(sim_success) and tracked[-1], "the expert's stack was not detected"
    first = sim_success.index(True)
    carried = [f for f in frames[:first] if f["finger_m"] <= cfg.released_finger_m
               and f["tcp_world"][2] - cfg.table_z_m > 0.1]
    assert carried and not any(detect("stack", f, reference=initial) for f in carried)
    # a cube the colour of the table: the XYZ rule decides alone (top of A on B, fingers open)
    grey = lambda f: {**f, "rgb": np.full_like(f["rgb"], 128)}  # noqa: E731
    assert detect("stack", grey(frames[-1]), reference=grey(initial)) == (
        cfg.stack_top_min_m < object_top_m(frames[-1], cfg) < cfg.stack_top_max_m)
    env.close()


def test_pick_place_detector_reads_change_in_the_target_compartment():
    """pick_place_can: points that rose in the can's compartment (not the walls or robosuite's static
    goal marker, which are already in the initial frame) and rest low, with the gripper open."""
    cfg = detector_config("pick_place_can")
    x0, x1, y0, y1 = cfg.target_box_xy_m
    H = W = 8
    pm = np.zeros((H, W, 3), np.float32)                   # world frame (T_world_cam = I)
    pm[..., 0] = np.linspace(x0 - 0.1, x1 + 0.1, W)[None]   # columns 0-1 and 6-7 lie outside the compartment
    pm[..., 1] = (y0 + y1) / 2
    pm[..., 2] = cfg.table_z_m + 0.02                      # the compartment floor
    pm[0, 3:5, 2] = cfg.table_z_m + 0.09                   # the goal marker: tall but static
    ref = {"pointmap": pm, "valid": np.ones((H, W), bool), "robot_mask": np.zeros((H, W), bool),
           "T_world_cam": np.eye(4), "finger_m": 0.04, "tcp_world": np.zeros(3)}

    def with_can(cols, top_m, finger_m=0.04):
        p = pm.copy()
        p[4:7, cols, 2] = cfg.table_z_m + top_m
        return {**ref, "pointmap": p, "finger_m": finger_m}
    inside = slice(3, 5)
    assert not detect("pick_place_can", ref, cfg, ref)                          # the marker alone
    assert detect("pick_place_can", with_can(inside, 0.09), cfg, ref)            # placed
    assert not detect("pick_place_can", with_can(inside, 0.09, finger_m=0.0), cfg, ref)   # still held
    assert not detect("pick_place_can", with_can(inside, 0.16), cfg, ref)        # carried above it
    assert not detect("pick_place_can", with_can(slice(0, 2), 0.09), cfg, ref)  # beside the compartment
    with pytest.raises(ValueError, match="initial frame"):
        detect("pick_place_can", ref, cfg)


@pytest.mark.parametrize("task", ["stack", "pick_place_can"])    # lift: the tests above
def test_every_task_detects_on_generated_frames(tiny_checkpoint, task):
    """Each task's detector runs inside Kinema4D-v0 (pick-place needs the reset frame as reference)."""
    env = gym.make("Kinema4D-v0", task=task, resolution=RES, checkpoint=str(tiny_checkpoint),
                   init_source="image", action_chunk=2, num_inference_steps=1)
    env.reset(seed=0, options={"frame": user_frame()})
    _, reward, terminated, _, info = env.step(np.tile(np.array([0, 0, 0, 0, 0, 0, 1], np.float32), (2, 1)))
    assert reward == float(info["is_success"]) == float(terminated)
    env.close()


@pytest.mark.parametrize("radius", [None, -1.0])
def test_generated_world_keeps_what_the_robot_does_not_reach(tiny_checkpoint, radius):
    """Default rollout: pixels far from the arm keep the initial frame exactly, and the generated
    pointmap is the arm's own where the robot mask is; contact_radius_m=-1 generates every pixel."""
    kw = {} if radius is None else {"contact_radius_m": radius}
    env = gym.make("Kinema4D-v0", task="lift", resolution=RES, checkpoint=str(tiny_checkpoint),
                   init_source="image", action_chunk=2, num_inference_steps=1, **kw)
    frame = user_frame()
    obs0, _ = env.reset(seed=0, options={"frame": frame})
    obs, _, _, _, info = env.step(np.tile(np.array([0, 0.5, 0, 0, 0, 0, -1], np.float32), (2, 1)))
    env.close()
    pms, masks = [obs0["robot_pointmap"], *info["frames"]["robot_pointmap"]], [obs0["robot_mask"], *info["frames"]["robot_mask"]]
    arm = np.concatenate([p[m] for p, m in zip(pms, masks)])          # camera frame, every frame of the step
    dist = np.linalg.norm(frame["pointmap"][:, :, None] - arm[None, None], axis=-1).min(-1)
    far = (dist > 0.15) & ~np.any(masks, axis=0)                      # well beyond the 4 cm margin
    assert far.sum() > 50
    same = np.array_equal(obs["rgb"][far], frame["rgb"][far])
    if radius is not None:
        assert not same                                                # the model's own pixels
        return
    assert same
    m = obs["robot_mask"]
    np.testing.assert_allclose(obs["pointmap"][m], obs["robot_pointmap"][m], atol=1e-4)
    K, pm, valid = frame["K"], obs["pointmap"], obs["valid"] & ~m     # snap_to_camera_rays: on each pixel's ray
    u = np.arange(RES)[None, :].repeat(RES, 0)
    np.testing.assert_allclose((pm[..., 0] / pm[..., 2])[valid], ((u - K[0, 2]) / K[0, 0])[valid], atol=1e-3)


@pytest.mark.parametrize("task", [p.name for p in sorted((ASSETS / "world_model").iterdir())])
def test_shipped_checkpoint_works_out_of_the_box(task):
    """gym.make("Kinema4D-v0", task=...) with no checkpoint loads assets/world_model/<task> and steps."""
    env = gym.make("Kinema4D-v0", task=task, init_source="image", action_chunk=2)
    assert env.unwrapped.model.robot_refiner is not None          # <task>/robot_refiner ships beside it
    obs, _ = env.reset(seed=0, options={"frame": user_frame(64)})
    obs, reward, terminated, truncated, info = env.step(np.tile(np.array([0, 0, 0, 0, 0, 0, -1], np.float32), (2, 1)))
    env.close()
    assert obs["rgb"].shape == (64, 64, 3) and np.isfinite(obs["pointmap"]).all()
    assert len(info["frames"]["rgb"]) == 2 and reward in (0.0, 1.0)


def test_refine_robot_off_changes_only_the_robots_pixels():
    """Kinema4D-v0(refine_robot=False) runs the shipped model without its robot refiner; the two differ only
    on the robot and the refiner's margin around it."""
    rgb = {}
    for refine in (None, False):
        env = gym.make("Kinema4D-v0", task="lift", init_source="image", action_chunk=2, refine_robot=refine)
        env.reset(seed=0, options={"frame": user_frame(64)})
        _, _, _, _, info = env.step(np.tile(np.array([0, 0, 0, 0, 0, 0, -1], np.float32), (2, 1)))
        rgb[refine], mask = np.stack(info["frames"]["rgb"]), np.stack(info["frames"]["robot_mask"])
        region = env.unwrapped.model.robot_refiner.region(torch.as_tensor(mask)[:, None])[:, 0].numpy()
        env.close()
    changed = (rgb[None] != rgb[False]).any(-1)
    assert changed.any() and not (changed & ~region).any()


def test_generated_world_pointmap_has_no_arm_ghosts():
    """The shipped lift model's rollout keeps the remembered table where it generates ghost geometry
    (occlusion memory, on by default): on the pixels that are not the robot now or at reset, almost no point
    leaves the user's flat table (depth 0.9 m); turned off (ghost_tolerance_m=-1), hundreds do. The colour of
    the step is the same either way."""
    frames = {}
    for tol in (None, -1.0):
        env = gym.make("Kinema4D-v0", task="lift", init_source="image", action_chunk=4, ghost_tolerance_m=tol)
        obs0, _ = env.reset(seed=0, options={"frame": user_frame(64)})
        _, _, _, _, info = env.step(np.tile(np.array([0.5, 0, -0.5, 0, 0, 0, -1], np.float32), (4, 1)))
        env.close()
        f = {k: np.stack(info["frames"][k]) for k in ("rgb", "pointmap", "robot_mask")}
        free = ~f["robot_mask"] & ~obs0["robot_mask"][None]
        frames[tol] = f["rgb"], int((np.abs(f["pointmap"][..., 2] - 0.9)[free] > 0.011).sum())
    assert np.array_equal(frames[None][0], frames[-1.0][0])
    assert frames[-1.0][1] > 100 and frames[None][1] < 0.05 * frames[-1.0][1]


def test_fingers_stop_on_the_generated_cube():
    """The expert's lift replayed in Kinema4D-v0 with grasp contact: the fingers stop on the cube of the
    generated world near its half size, as the simulator's did (the commanded ones close fully:
    test_grasp.py)."""
    from robo4d_env.experts import make_expert
    steps, chunk = 32, 8                    # the fingers close from step ~24
    sim = gym.make("Robo4DSim-v0", task="lift", action_mode="ee_abs", terminate_on_success=False)
    obs, _ = sim.reset(seed=11)
    expert = make_expert(sim)
    expert.reset()
    actions = []
    for _ in range(steps):
        actions.append(expert.act(obs))
        obs, *_ = sim.step(actions[-1])
    sim_finger = float(obs["proprio"][7])
    sim.close()
    env = gym.make("Kinema4D-v0", task="lift", action_mode="ee_abs", action_chunk=chunk, grasp_contact=True,
                   grasp_scene_tolerance_m=0.03)
    env.reset(seed=11)
    for t in range(0, steps, chunk):
        obs, _, term, trunc, _ = env.step(np.stack(actions[t:t + chunk]))
        if term or trunc:                  # a generated lift ends the episode
            break
    env.close()
    assert sim_finger > 0.015
    assert float(obs["proprio"][7]) == pytest.approx(sim_finger, abs=0.006)
    with pytest.raises(ValueError, match="grasp_scene_tolerance_m must be a distance"):
        gym.make("Kinema4D-v0", task="lift", grasp_scene_tolerance_m=float("nan"))
