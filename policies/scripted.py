"""Scripted experts with graded perturbations: a family of policies whose real success rates span
low to high, for the generated-vs-real policy-evaluation benchmark (Kinema4D §4.3, Table 3).

They plan from the initial scene (object poses at reset) and then ignore observations, so the same
seed gives the same actions in Robo4DSim-v0 and in Kinema4D-v0 started from that seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robo4d_env.experts import CLOSED, ExpertConfig, make_expert


@dataclass(frozen=True)
class PolicySetup:
    name: str
    grasp_offset_m: float = 0.0     # grasp point shifted along world x (across the finger pads)
    close_high_m: float = 0.0       # close the gripper this far above the grasp point (early close)
    action_noise_m: float = 0.0     # Gaussian noise on every commanded TCP position


# Real success rates on 6-8 eval seeds (measured while choosing them): expert 1.0, noise_2cm 0.5,
# noise_3cm 0.38, offset_3cm 0.17, early_close_2cm 0.0; offsets up to 2.5 cm and early closes up to
# 1 cm still succeed every time, which is why the grades sit where they do.
SETUPS = {
    "lift": (PolicySetup("expert"), PolicySetup("noise_2cm", action_noise_m=0.02),
             PolicySetup("noise_3cm", action_noise_m=0.03), PolicySetup("offset_2.8cm", grasp_offset_m=0.028),
             PolicySetup("offset_3cm", grasp_offset_m=0.03), PolicySetup("early_close_2cm", close_high_m=0.02)),
    # Stack, graded on eval seeds 10000-10005: expert 1.0, noise_1.5cm 0.67, noise_2cm 0.5,
    # offset_2.8cm 0.17, offset_3cm 0.0, early_close_2cm 0.0; offsets up to 2.5 cm and noise 1 cm still
    # succeed every time. A grasp offset carries cube A that far off cube B's centre.
    "stack": (PolicySetup("expert"), PolicySetup("noise_1.5cm", action_noise_m=0.015),
              PolicySetup("noise_2cm", action_noise_m=0.02), PolicySetup("offset_2.8cm", grasp_offset_m=0.028),
              PolicySetup("offset_3cm", grasp_offset_m=0.03), PolicySetup("early_close_2cm", close_high_m=0.02)),
    # Pick-place-can, graded on eval seeds 10000-10005 (benchmarks/results/trials/ppc_setups/): expert 1.0,
    # early_close_2cm 1.0, noise_1.5cm 0.33, noise_2cm 0, offset_2cm 0, early_close_5cm 0. The grades are
    # cliffs: noise 1.25 cm, a 1.5 cm offset and a 2 cm early close always succeed; 1.75 cm offsets never do.
    "pick_place_can": (PolicySetup("expert"), PolicySetup("early_close_2cm", close_high_m=0.02),
                       PolicySetup("noise_1.5cm", action_noise_m=0.015), PolicySetup("noise_2cm", action_noise_m=0.02),
                       PolicySetup("offset_2cm", grasp_offset_m=0.02), PolicySetup("early_close_5cm", close_high_m=0.05)),
}


class ScriptedPolicy:
    """``reset(sim_env, seed)`` plans on a simulator in its initial state; ``act(obs)`` -> ee_abs action."""

    def __init__(self, setup: PolicySetup, expert_config: ExpertConfig | None = None):
        self.setup = setup
        self.expert_config = expert_config

    def reset(self, sim_env, seed: int) -> None:
        self.expert = make_expert(sim_env, self.expert_config)
        self.expert.reset()
        s = self.setup
        for i, (name, target, grip, hold, yaw) in enumerate(self.expert.waypoints):
            if name in ("descend", "close", "lift", "hold") and s.grasp_offset_m:
                target = np.asarray(target) + [s.grasp_offset_m, 0.0, 0.0]
            if name in ("descend", "close") and s.close_high_m:
                target = np.asarray(target) + [0.0, 0.0, s.close_high_m]
                grip = CLOSED if name == "close" else grip
            self.expert.waypoints[i] = (name, target, grip, hold, yaw)
        self.rng = np.random.default_rng(seed)

    def act(self, obs=None) -> np.ndarray:
        a = self.expert.act(obs)
        if self.setup.action_noise_m:
            a = a.copy()
            a[:3] += self.rng.normal(0.0, self.setup.action_noise_m, 3).astype(np.float32)
        return a
