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
