"""Grasp contact read from the world's points (envs/grasp.py): the fingers stop on an object between them."""
import gymnasium as gym
import numpy as np
import pytest

from robo4d_env.envs.grasp import SceneMemory, blocked_finger_m, stop_on_scene
from robo4d_env.kinematics import GripperModel

TABLE_Z_M = 0.8
HALF_M = 0.021          # the lift cube's half size
OPEN_M = 0.04


def cube_points(centre, half=HALF_M, n=9) -> np.ndarray:
    """Points on the top and the four sides of an axis-aligned cube resting on the table, world metres."""
    u = np.linspace(-half, half, n)
    a, b = np.meshgrid(u, u)
    top = np.stack([a.ravel(), b.ravel(), np.full(a.size, half)], 1)
    sides = [np.stack([np.full(a.size, s * half), a.ravel(), b.ravel()], 1) for s in (-1, 1)]
    sides += [np.stack([a.ravel(), np.full(a.size, s * half), b.ravel()], 1) for s in (-1, 1)]
    return np.concatenate([top] + sides) + np.asarray(centre)


def tcp_down(pos) -> np.ndarray:
    """T_world_tcp pointing straight down (TCP z = -world z), closing axis along world -y."""
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T[:3, 3] = pos
    return T


CUBE = (0.0, 0.0, TABLE_Z_M + HALF_M)
TABLE = np.stack(np.meshgrid(np.linspace(-0.1, 0.1, 30), np.linspace(-0.1, 0.1, 30)), -1).reshape(-1, 2)
TABLE = np.c_[TABLE, np.full(len(TABLE), TABLE_Z_M)]


def test_fingers_stop_at_half_the_object_between_the_pads():
    scene = np.concatenate([TABLE, cube_points(CUBE)])
    at_grasp = tcp_down((0.0, 0.0, TABLE_Z_M + HALF_M))
    assert blocked_finger_m(scene, at_grasp, OPEN_M, OPEN_M, TABLE_Z_M) == pytest.approx(HALF_M, abs=1e-3)
    # off the gripper's centre by 1 cm: the pads push it to the centre and still stop at its half size
    off = np.concatenate([TABLE, cube_points((0.0, 0.01, CUBE[2]))])
    assert blocked_finger_m(off, at_grasp, OPEN_M, OPEN_M, TABLE_Z_M) == pytest.approx(HALF_M, abs=1e-3)


@pytest.mark.parametrize("case", ["beside", "above", "closed_in_the_air", "table_only"])
def test_nothing_between_the_pads_stops_nothing(case):
    scene = np.concatenate([TABLE, cube_points(CUBE)])
    T, reach = tcp_down((0.0, 0.0, TABLE_Z_M + HALF_M)), OPEN_M
    if case == "beside":
        T = tcp_down((0.08, 0.0, TABLE_Z_M + HALF_M))
    elif case == "above":
        T = tcp_down((0.0, 0.0, TABLE_Z_M + 0.1))
    elif case == "closed_in_the_air":     # the hand closed, then came down on the cube: tips on its top
        T, reach = tcp_down((0.0, 0.0, TABLE_Z_M + 2 * HALF_M + 0.015)), 0.001
    else:
        scene = TABLE
    assert blocked_finger_m(scene, T, reach, OPEN_M, TABLE_Z_M) is None


def test_gripper_holds_until_it_opens():
    g = GripperModel()
    g.reset(-1.0)
    points = cube_points(CUBE)[None]                       # a (1, N) "image" of the cube
    scene = SceneMemory(points, np.ones(points.shape[:2], bool), np.zeros(points.shape[:2], bool))
    widths = []
    for _ in range(12):
        reach = g.finger_m
        g.step(1.0)
        stop_on_scene(g, scene, tcp_down(CUBE), reach, TABLE_Z_M)
        widths.append(g.finger_m)
    assert widths[-1] == pytest.approx(HALF_M, abs=1e-3) and g.stop_m is not None
    opened = [g.step(-1.0) for _ in range(12)]
    assert g.stop_m is None and opened[-1] > 0.035


def test_scene_memory_keeps_what_the_robot_hides():
    pm = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    valid, robot = np.ones((2, 2), bool), np.zeros((2, 2), bool)
    mem = SceneMemory(pm, valid, robot)
    robot[0, 0] = True
    mem.update(pm + 100, valid, robot)
    assert np.allclose(mem.points[0, 0], pm[0, 0]) and np.allclose(mem.points[1, 1], pm[1, 1] + 100)
    assert len(mem.scene_points()) == 4


def test_rule_matches_the_simulators_fingers_on_an_expert_grasp():
    """Real physics: on the expert's lift, the rule fed the simulator's frames stops the fingers where the
    simulated cube stopped them, and the measured_fingers robot pointmap shows that opening."""
    from robo4d_env.experts import make_expert
    env = gym.make("Robo4DSim-v0", task="lift", action_mode="ee_abs", terminate_on_success=False,
                   robot_pointmap_from="measured_fingers")
    u = env.unwrapped
    obs, info = env.reset(seed=11)
    T_wc = info["cameras"]["main"]["T_world_cam"]
    world = lambda pm: (pm @ T_wc[:3, :3].T + T_wc[:3, 3]).astype(np.float32)  # noqa: E731
    scene = SceneMemory(world(obs["pointmap"]), obs["valid"], obs["robot_mask"])
    gripper = GripperModel()
    gripper.reset(-1.0, u.commander.finger_m)
    expert = make_expert(env)
    expert.reset()
    for _ in range(40):
        action = expert.act(obs)
        reach = gripper.finger_m
        gripper.step(action[-1])
        obs, *_ = env.step(action)
        T_world_tcp = u.T_world_base @ u.robot.fk(u.commander.q_cmd[None])[0].double().numpy()
        stop_on_scene(gripper, scene, T_world_tcp, reach, TABLE_Z_M)
        scene.update(world(obs["pointmap"]), obs["valid"], obs["robot_mask"])
    measured = float(obs["proprio"][7])
    assert measured > 0.015, "the expert did not grasp the cube"
    assert gripper.finger_m == pytest.approx(measured, abs=0.005)    # a pixel at 64 px: ~4 mm there
    assert u.commander.finger_m < 0.002            # the commanded fingers closed fully
    # measured_fingers: the robot pointmap's finger pixels are those of the measured opening
    u.config.robot_pointmap_from = "commanded"
    closed = u._observe()[0]["robot_mask"]
    u.config.robot_pointmap_from = "measured_fingers"
    held = u._observe()[0]["robot_mask"]
    assert (held != closed).sum() > 0
    env.close()
