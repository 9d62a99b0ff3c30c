import numpy as np
import pytest
import torch

from robo4d_env.kinematics import GripperModel, RobotConfig, RobotModel


def test_fast_fk_and_jacobian_match_pytorch_kinematics(robot):
    q = robot.random_q(64, torch.Generator().manual_seed(1))
    T_ref = robot.arm.forward_kinematics(q).get_matrix()
    T_ref[:, :3, 3] += T_ref[:, :3, :3] @ robot.tcp_offset
    assert torch.allclose(robot.fk(q), T_ref, atol=1e-5)
    J_ref = robot.arm.jacobian(q, locations=robot.tcp_offset.expand(64, 3))
    assert torch.allclose(robot.jacobian(q), J_ref, atol=1e-5)


def test_fk_matches_mujoco_panda(lift_env):
    env = lift_env.unwrapped
    env.reset(seed=0)
    import mujoco
    b = env.backend
    q = env.robot.random_q(20, torch.Generator().manual_seed(2))
    ours = env.robot.fk(q)
    for i in range(20):
        b.data.qpos[b.robot._ref_joint_pos_indexes] = q[i].numpy()
        mujoco.mj_kinematics(b.model, b.data)
        p = env.T_world_base @ np.r_[ours[i, :3, 3].numpy(), 1.0]
        assert np.linalg.norm(p[:3] - b.tcp_world()) < 1e-3


def test_ik_reaches_reachable_targets_within_limits(robot):
    g = torch.Generator().manual_seed(3)
    q = robot.random_q(50, g)
    res = robot.ik(robot.fk(q), None, generator=g)
    ok = (res.pos_err_m < 1e-3) & (res.rot_err_rad < np.deg2rad(1))
    assert ok.float().mean() >= 0.95
    assert torch.all(res.q >= robot.q_low - 1e-6) and torch.all(res.q <= robot.q_high + 1e-6)


def test_ik_warm_start_stays_near_previous_solution(robot):
    q0 = robot.home_q[None].clone()
    T = robot.fk(q0)
    T[:, 0, 3] += 0.01
    res = robot.ik(T, q0)
    assert bool(res.converged[0])
    assert (res.q - q0).abs().max() < 0.1


def test_unreachable_target_returns_closest_solution(robot):
    T = robot.fk(robot.home_q[None]).clone()
    T[:, :3, 3] = torch.tensor([3.0, 0.0, 0.5])          # 3 m away: far beyond reach
    res = robot.ik(T, robot.home_q[None])
    assert not bool(res.converged[0])
    assert torch.isfinite(res.q).all()
    reached = robot.fk(res.q)[0, :3, 3]
    assert reached[0] > robot.fk(robot.home_q[None])[0, 0, 3]   # it stretched towards the target


def test_missing_urdf_names_the_path(tmp_path):
    missing = tmp_path / "nope.urdf"
    with pytest.raises(FileNotFoundError, match="nope.urdf"):
        RobotModel(RobotConfig(urdf_path=str(missing)))


def test_missing_mesh_names_the_path(tmp_path, robot):
    pkg = str(robot.urdf_path.parent.parent) + "/"
    text = robot.urdf_xml.replace("package://panda_description/meshes/visual/link3.dae",
                                  str(tmp_path / "gone.dae")).replace("package://panda_description/", pkg)
    p = tmp_path / "panda.urdf"
    p.write_text(text)
    r = RobotModel(RobotConfig(urdf_path=str(p), joint_origin_fixes=()))
    with pytest.raises(FileNotFoundError, match="gone.dae"):
        r.link_meshes()


def test_gripper_model_is_rate_limited():
    g = GripperModel()
    g.reset(-1.0)
    widths = [g.step(1.0) for _ in range(16)]
    assert widths[0] > widths[3] > widths[-1]
    assert widths[-1] < 0.002


def test_batched_ik_with_per_target_generators_matches_solving_each_alone(robot):
    # Far targets from the home pose: 2 of these 6 do not converge from the warm start, so restarts
    # run, each target's drawn from its own generator.
    T = robot.fk(robot.random_q(6, torch.Generator().manual_seed(5)))
    q0 = robot.home_q.expand(6, 7)
    gens = lambda: [torch.Generator().manual_seed(100 + i) for i in range(6)]  # noqa: E731
    batched = robot.ik(T, q0, generator=gens())
    alone = [robot.ik(T[i:i + 1], q0[i:i + 1], generator=g) for i, g in enumerate(gens())]
    for i, r in enumerate(alone):
        torch.testing.assert_close(batched.q[i], r.q[0], atol=1e-5, rtol=0)
        assert bool(batched.converged[i]) == bool(r.converged[0])
