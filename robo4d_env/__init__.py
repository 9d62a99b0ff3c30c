"""robo4d_env: a generative 4D robot simulator (Kinema4D) with a gymnasium API."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

from gymnasium.envs.registration import register, registry  # noqa: E402

__version__ = "0.1.0"

if "Robo4DSim-v0" not in registry:
    register(id="Robo4DSim-v0", entry_point="robo4d_env.envs.sim_env:Robo4DSimEnv")
if "Kinema4D-v0" not in registry:
    register(id="Kinema4D-v0", entry_point="robo4d_env.envs.kinema4d_env:Kinema4DEnv",
             vector_entry_point="robo4d_env.envs.kinema4d_vector_env:Kinema4DVectorEnv")
