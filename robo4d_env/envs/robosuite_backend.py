"""The MuJoCo/robosuite side of Robo4DSim-v0: physics, joint-target control and RGB-D-seg rendering.

This is the only place that knows MuJoCo's OpenGL camera convention; everything leaving it is
OpenCV camera frame, metres, top-row-first images.
"""
from __future__ import annotations

import atexit
import os
import weakref
from dataclasses import dataclass

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

from robo4d_env.cameras import Camera  # noqa: E402
from robo4d_env.envs.tasks import TaskConfig  # noqa: E402

GL_FROM_CV = np.diag([1.0, -1.0, -1.0])        # OpenCV camera axes -> MuJoCo/OpenGL camera axes
RENDER_CAMERA = "agentview"                      # model camera slot re-posed for every render
ROBOT_BODY_PREFIXES = ("robot0_", "gripper0_")  # the mount/pedestal is not part of the URDF


@dataclass
class ControllerConfig:
    # Stiff joint PD (mass-matrix decoupled, critically damped) so the simulated arm tracks the
    # kinematic commands within millimetres at 20 Hz. Measured median TCP tracking error of the
    # experts: 7 mm at kp=1500, 3.2 mm at 3000, 0.9-1.3 mm at 5000 (benchmarks.foundation).
    kp: float = 5000.0
    damping_ratio: float = 1.0


_LIVE_BACKENDS: "weakref.WeakSet[RobosuiteBackend]" = weakref.WeakSet()


_ATEXIT_REGISTERED = False


def _close_renderers() -> None:
    # GL contexts must be freed before mujoco's own exit hook terminates the EGL display; left to
    # the garbage collector at exit, mujoco's destructors print tracebacks.
    for backend in list(_LIVE_BACKENDS):
        backend.close_renderers()


def _register_exit_hook() -> None:
    """Called after the first Renderer exists: atexit runs last-registered first, so this hook
    runs before the one mujoco.egl registered on import."""
    global _ATEXIT_REGISTERED
    if not _ATEXIT_REGISTERED:
        atexit.register(_close_renderers)
        _ATEXIT_REGISTERED = True


def _quiet_robosuite():
    import logging
    logging.getLogger("robosuite_logs").setLevel(logging.ERROR)


MODEL_SEED = 0      # robosuite's model-build randomness (object sizes): one fixed model


class RobosuiteBackend:
    def __init__(self, task: TaskConfig, max_height: int, max_width: int,
                 controller: ControllerConfig = ControllerConfig()):
        _quiet_robosuite()
        import robosuite
        from robosuite.controllers import load_controller_config

        ctrl = load_controller_config(default_controller="JOINT_POSITION")
        # Identity action scaling: the arm action *is* the joint delta in radians.
        ctrl.update(input_max=10.0, input_min=-10.0, output_max=10.0, output_min=-10.0,
                    kp=controller.kp, damping_ratio=controller.damping_ratio, kp_limits=[0, 1e5])
        self.task = task
        # robosuite draws object *sizes* (e.g. the lift cube's half-size, 20-22 mm) from numpy's global
        # RNG when it builds the model, and hard_reset=False keeps that model. Unseeded, every process
        # got another cube: the same seed gave cube heights 1.2 mm apart and flipped borderline grasps
        # (offset_2.8cm: 1/6 vs 5/6 real successes). Seeded here, leaving the caller's RNG state alone.
        rng_state = np.random.get_state()
        np.random.seed(MODEL_SEED)
        try:
            self.env = robosuite.make(
                task.robosuite_env, robots="Panda", controller_configs=ctrl, has_renderer=False,
                has_offscreen_renderer=False, use_camera_obs=False, use_object_obs=True,
                control_freq=task.control_freq_hz, horizon=10**9, ignore_done=True, hard_reset=False,
                **dict(task.robosuite_kwargs))
            self.env.reset()
        finally:
            np.random.set_state(rng_state)
        self.model: mujoco.MjModel = self.env.sim.model._model
        self.data: mujoco.MjData = self.env.sim.data._data
        self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, max_width)
        self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, max_height)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._cam_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, RENDER_CAMERA)
        self._scene_opt = mujoco.MjvOption()
        self._scene_opt.geomgroup[:] = 0
        self._scene_opt.geomgroup[1] = 1                 # visual geoms only (group 0 = collision)
        self._scene_opt.sitegroup[:] = 0                 # no debug sites in the images
        body_names = [self.model.body(self.model.geom_bodyid[g]).name for g in range(self.model.ngeom)]
        self.robot_geom = np.array([n.startswith(ROBOT_BODY_PREFIXES) for n in body_names] + [False])
        self.robot = self.env.robots[0]
        _LIVE_BACKENDS.add(self)

    # ------------------------------------------------------------------ state
    def reset(self, seed: int) -> None:
        # robosuite 1.4 samples object poses and initial joint noise from numpy's global RNG.
        np.random.seed(seed % 2**32)
        self.env.reset()
        # robosuite keeps the gripper's rate-limited command across soft resets; start every
        # episode from the same (half-open) command so that a seed fully determines the rollout.
        self.robot.gripper.current_action = np.zeros(self.robot.gripper.dof)

    @property
    def T_world_base(self) -> np.ndarray:
        T = np.eye(4)
        b = self.data.body("robot0_base")
        T[:3, :3] = b.xmat.reshape(3, 3)
        T[:3, 3] = b.xpos
        return T

    def joint_pos(self) -> np.ndarray:
        return self.data.qpos[self.robot._ref_joint_pos_indexes].copy()

    def finger_qpos(self) -> np.ndarray:
        return self.data.qpos[self.robot._ref_gripper_joint_pos_indexes].copy()

    def gripper_state(self) -> float:
        """robosuite's internal rate-limited gripper command, in our convention (-1 open, 1 closed)."""
        return -float(np.asarray(self.robot.gripper.current_action).reshape(-1)[0])

    def tcp_world(self) -> np.ndarray:
        """Measured TCP (robosuite grip site) position, world frame."""
        return self.data.site("gripper0_grip_site").xpos.copy()

    def apply(self, q_target: np.ndarray, gripper_cmd: float) -> None:
        """Advance one control step towards absolute joint targets (7,) rad and a gripper command."""
        delta = np.asarray(q_target, dtype=np.float64) - self.joint_pos()
        self.env.step(np.r_[delta, gripper_cmd])

    def success(self) -> bool:
        return bool(self.env._check_success())

    def object_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{object name: (position (3,), quaternion wxyz (4,))} in the world frame (experts only)."""
        out = {}
        objs = getattr(self.env, "objects", None) or [getattr(self.env, n) for n in ("cube", "cubeA", "cubeB")
                                                      if hasattr(self.env, n)]
        active = getattr(self.env, "obj_to_use", None)      # PickPlace single-object modes park the rest
        for obj in objs:
            if active is not None and obj.name.lower() != str(active).lower():
                continue
            b = self.data.body(obj.root_body)
            out[obj.name] = (b.xpos.copy(), b.xquat.copy())
        return out

    # ------------------------------------------------------------------ rendering
    def _renderer(self, h: int, w: int) -> mujoco.Renderer:
        if (h, w) not in self._renderers:
            try:
                r = mujoco.Renderer(self.model, height=h, width=w)
            except Exception as e:  # mujoco raises FatalError without a hint
                raise RuntimeError(
                    f"MuJoCo could not open a headless GL context ({e}). Set MUJOCO_GL=egl (or osmesa) "
                    "before anything imports mujoco, and install the GL libraries from the README "
                    f"(MUJOCO_GL is now {os.environ.get('MUJOCO_GL')!r}).") from e
            _register_exit_hook()
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            self._renderers[(h, w)] = r
        return self._renderers[(h, w)]

    def _pose_camera(self, cam: Camera) -> None:
        R_gl = cam.T_world_cam[:3, :3] @ GL_FROM_CV
        q = Rotation.from_matrix(R_gl).as_quat()                  # xyzw
        self.model.cam_pos[self._cam_id] = cam.T_world_cam[:3, 3]
        self.model.cam_quat[self._cam_id] = [q[3], q[0], q[1], q[2]]
        self.model.cam_fovy[self._cam_id] = cam.fovy_deg
        mujoco.mj_camlight(self.model, self.data)

    def render(self, cam: Camera, segmentation: bool = False) -> dict[str, np.ndarray]:
        """RGB (H, W, 3) uint8, depth (H, W) metres along +z, valid (H, W) bool, and with
        ``segmentation`` the simulator's robot mask (H, W) bool."""
        if self.model.cam_bodyid[self._cam_id] != 0:
            raise RuntimeError(f"camera slot '{RENDER_CAMERA}' must be attached to the world body")
        self._pose_camera(cam)
        r = self._renderer(cam.height, cam.width)
        r.update_scene(self.data, camera=self._cam_id, scene_option=self._scene_opt)
        out = {"rgb": r.render().copy()}
        r.enable_depth_rendering()
        depth = r.render().copy()
        r.disable_depth_rendering()
        far = self.model.stat.extent * self.model.vis.map.zfar
        out["valid"] = depth < 0.999 * far
        out["depth"] = np.where(out["valid"], depth, 0.0).astype(np.float32)
        if segmentation:
            r.enable_segmentation_rendering()
            seg = r.render()
            r.disable_segmentation_rendering()
            is_geom = seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)
            out["robot_seg"] = is_geom & self.robot_geom[np.where(is_geom, seg[..., 0], -1)]
        return out

    def close_renderers(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    def close(self) -> None:
        self.close_renderers()
        self.env.close()
