"""Batched Kinema4D-v0: N generated worlds whose IK, robot rendering and world-model calls are one batch each.

``gym.make_vec("Kinema4D-v0", num_envs=N, ...)``. Autoreset follows gymnasium 1.x's default
(next step): the step after an episode ends resets that sub-env, ignores its action and returns
its reset observation with reward 0.
"""
from __future__ import annotations

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from robo4d_env.envs.kinema4d_env import GenEnvConfig, Kinema4DEnv, generate_frames, plan_steps


class Kinema4DVectorEnv(VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"]}

    def __init__(self, num_envs: int, config: GenEnvConfig | None = None, world_model=None, **kwargs):
        kwargs.pop("vectorization_mode", None)
        cfg = config or GenEnvConfig(**kwargs)
        first = Kinema4DEnv(cfg, world_model=world_model)
        self.envs = [first] + [Kinema4DEnv(cfg, share_with=first) for _ in range(num_envs - 1)]
        self.num_envs = num_envs
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, num_envs)
        self.action_space = batch_space(first.action_space, num_envs)
        self.render_mode = cfg.render_mode
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._reset_options: dict | None = None     # reused on autoreset (e.g. a user's initial frame)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        seeds = seed if isinstance(seed, (list, tuple)) else \
            [None if seed is None else seed + i for i in range(self.num_envs)]
        self._reset_options = options
        obs, infos = [], []
        for env, s in zip(self.envs, seeds):
            o, i = env.reset(seed=s, options=options)
            obs.append(o)
            infos.append(i)
        self._needs_reset[:] = False
        return self._batch(obs), {"is_success": np.zeros(self.num_envs, dtype=bool)}

    def step(self, actions):
        actions = np.asarray(actions)
        out_obs = [None] * self.num_envs
        rew = np.zeros(self.num_envs, dtype=np.float64)
        term = np.zeros(self.num_envs, dtype=bool)
        trunc = np.zeros(self.num_envs, dtype=bool)
        success = np.zeros(self.num_envs, dtype=bool)
        active = []
        for i, env in enumerate(self.envs):
            if self._needs_reset[i]:
                out_obs[i], _ = env.reset(options=self._reset_options)
            else:
                active.append(i)
        if active:
            plans = plan_steps([self.envs[i] for i in active], [actions[i] for i in active])
            rpms, rmasks = self._robot_pointmaps([self.envs[i] for i in active], plans)
            frames = generate_frames([self.envs[i] for i in active], rpms, rmasks, [p["tcp_world"] for p in plans])
            for i, plan, fr in zip(active, plans, frames):
                out_obs[i], rew[i], term[i], trunc[i], info = self.envs[i].finish_step(plan, fr)
                success[i] = info["is_success"]
        self._needs_reset = term | trunc
        return self._batch(out_obs), rew, term, trunc, {"is_success": success}

    def _robot_pointmaps(self, envs: list[Kinema4DEnv], plans: list[dict]):
        """One renderer call for every control step of every active env (each with its own camera)."""
        res = envs[0].config.resolution
        q = torch.cat([torch.stack(p["qs"]) for p in plans])
        f = torch.tensor([x for p in plans for x in p["fingers"]], dtype=torch.float32)
        T = torch.cat([torch.as_tensor(e.T_cam_base).expand(len(p["qs"]), 4, 4) for e, p in zip(envs, plans)])
        K = torch.cat([torch.as_tensor(e.K).expand(len(p["qs"]), 3, 3) for e, p in zip(envs, plans)])
        pm, mask = envs[0].pointmap_renderer.render(q, f, T, K, res, res)
        sizes = [len(p["qs"]) for p in plans]
        return [x.numpy() for x in pm.split(sizes)], [x.numpy() for x in mask.split(sizes)]

    def _batch(self, obs: list[dict]) -> dict:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, obs, out)

    def render(self):
        return [e.render() for e in self.envs]

    def close_extras(self, **kwargs):
        for e in self.envs:
            e.close()
