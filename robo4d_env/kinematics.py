"""URDF robot kinematics: batched FK, warm-started IK and the gripper model (Kinema4D §3.1).

Frames: every pose here is in the robot *base* frame unless a name says otherwise.
Joint vector layout ``q``: the arm joints of the chain, in URDF order, radians.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_kinematics as pk
import torch


def default_panda_urdf() -> Path:
    """Panda URDF shipped inside the installed robosuite package (resolved, never copied)."""
    spec = importlib.util.find_spec("robosuite")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("robosuite is not installed; it provides the default Panda URDF. "
                                "Install it with `pip install robosuite==1.4.0` or pass RobotConfig(urdf_path=...).")
    return (Path(spec.origin).parent / "models/assets/bullet_data/panda_description/urdf/panda_arm_hand.urdf")


@dataclass
class RobotConfig:
    urdf_path: str | None = None            # None: robosuite's Panda
    base_link: str = "panda_link0"
    hand_link: str = "panda_hand"
    arm_joints: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))
    finger_joints: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")
    finger_open_m: float = 0.04              # each finger's travel when fully open
    tcp_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.097)   # hand -> tool centre point
    # IK (damped least squares)
    ik_max_iters: int = 60
    ik_damping: float = 0.05
    ik_pos_tol_m: float = 2e-4
    ik_rot_tol_rad: float = 2e-3
    ik_max_step_m: float = 0.05             # task-space error clamp per iteration (keeps DLS stable)
    ik_max_step_rad: float = 0.3
    ik_rot_weight_m: float = 0.1            # metres of position error worth one radian of rotation
    ik_restarts: int = 32                    # random restarts used only when the warm start fails
    home_q_rad: tuple[float, ...] = (0.0, 0.196, 0.0, -2.618, 0.0, 2.942, 0.785)
    # Joint-origin corrections applied in memory to the loaded URDF: (joint, xyz_m, rpy_rad).
    # robosuite's bullet_data Panda URDF places panda_joint1 at (0, -0.1, 0); the real Panda and
    # robosuite's own MJCF have it at (0, 0, 0.333). Without this every link is off by 35 cm.
    joint_origin_fixes: tuple[tuple[str, tuple[float, float, float], tuple[float, float, float]], ...] = (
        ("panda_joint1", (0.0, 0.0, 0.333), (0.0, 0.0, 0.0)),)


@dataclass
class IKResult:
    q: torch.Tensor            # (B, 7) radians, within joint limits
    pos_err_m: torch.Tensor    # (B,)
    rot_err_rad: torch.Tensor  # (B,)
    converged: torch.Tensor    # (B,) bool

    def row(self, i: int) -> "IKResult":
        """Target ``i`` alone, as a batch of one."""
        return IKResult(*(getattr(self, f)[i:i + 1] for f in ("q", "pos_err_m", "rot_err_rad", "converged")))


def _resolve_package_uri(urdf_path: Path):
    """Map `package://<pkg>/...` mesh URIs to files beside the URDF (ROS layout: <pkg>/urdf/x.urdf)."""
    pkg_root = urdf_path.parent.parent

    def handler(fname: str, dir=None) -> str:  # noqa: A002 - yourdfpy's signature
        if fname.startswith("package://"):
            rest = fname[len("package://"):]
            rest = rest.split("/", 1)[1] if "/" in rest else rest
            return str(pkg_root / rest)
        return fname if os.path.isabs(fname) else str(urdf_path.parent / fname)

    return handler


def _rodrigues(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (B, 3, 3) about a unit axis (3,) by angles (B,) radians."""
    x, y, z = axis
    K = torch.stack([torch.stack([0 * x, -z, y]), torch.stack([z, 0 * x, -x]), torch.stack([-y, x, 0 * x])])
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    return torch.eye(3, device=angle.device) + s * K + (1 - c) * (K @ K)


def _clamp_norm(v: torch.Tensor, max_norm: float) -> torch.Tensor:
    n = v.norm(dim=1, keepdim=True)
    return v * torch.clamp(max_norm / n.clamp_min(1e-12), max=1.0)


def rotation_error(R_target: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Axis-angle vector (B, 3) of R_target @ R^T, in the base frame."""
    return pk.matrix_to_axis_angle(R_target @ R.transpose(-1, -2))


class RobotModel:
    """A URDF arm + parallel gripper: FK, Jacobians, IK and link meshes."""

    def __init__(self, config: RobotConfig | None = None, device: str | torch.device = "cpu"):
        self.config = cfg = config or RobotConfig()
        self.urdf_path = Path(cfg.urdf_path) if cfg.urdf_path else default_panda_urdf()
        if not self.urdf_path.is_file():
            raise FileNotFoundError(f"URDF not found: {self.urdf_path}. Pass RobotConfig(urdf_path=...) "
                                    "pointing at an existing .urdf file.")
        self.device = torch.device(device)
        self.urdf_xml = self._patched_urdf()
        urdf_text = self.urdf_xml.encode()
        self.chain = pk.build_chain_from_urdf(urdf_text).to(dtype=torch.float32, device=self.device)
        self.arm = pk.SerialChain(self.chain, cfg.hand_link, cfg.base_link).to(dtype=torch.float32,
                                                                                device=self.device)
        names = self.arm.get_joint_parameter_names()
        if tuple(names) != tuple(cfg.arm_joints):
            raise ValueError(f"URDF arm joints {names} do not match RobotConfig.arm_joints {cfg.arm_joints}")
        lo, hi = self.arm.get_joint_limits()
        self.q_low = torch.tensor(lo, dtype=torch.float32, device=self.device)
        self.q_high = torch.tensor(hi, dtype=torch.float32, device=self.device)
        self.all_joint_names = self.chain.get_joint_parameter_names()
        self.tcp_offset = torch.tensor(cfg.tcp_offset_m, dtype=torch.float32, device=self.device)
        self.home_q = torch.tensor(cfg.home_q_rad, dtype=torch.float32, device=self.device)
        self.qd_max = torch.tensor(self._velocity_limits(), dtype=torch.float32, device=self.device)
        self._urdf = None
        self._build_serial()

    def _patched_urdf(self) -> str:
        import xml.etree.ElementTree as ET
        try:
            root = ET.fromstring(self.urdf_path.read_text())
        except ET.ParseError as e:
            raise ValueError(f"URDF {self.urdf_path} is not valid XML: {e}") from e
        joints = {j.get("name"): j for j in root.iter("joint")}
        for name, xyz, rpy in self.config.joint_origin_fixes:
            if name not in joints:
                raise ValueError(f"joint_origin_fixes names joint '{name}', absent from {self.urdf_path}")
            origin = joints[name].find("origin")
            if origin is None:
                origin = ET.SubElement(joints[name], "origin")
            origin.set("xyz", " ".join(map(str, xyz)))
            origin.set("rpy", " ".join(map(str, rpy)))
        return ET.tostring(root, encoding="unicode")

    def _velocity_limits(self) -> list[float]:
        """Arm joint speed limits (rad/s) from the URDF's <limit velocity=...>."""
        import xml.etree.ElementTree as ET
        joints = {j.get("name"): j for j in ET.fromstring(self.urdf_xml).iter("joint")}
        out = []
        for name in self.config.arm_joints:
            lim = joints[name].find("limit")
            if lim is None or lim.get("velocity") is None:
                raise ValueError(f"URDF joint '{name}' has no velocity limit ({self.urdf_path})")
            out.append(float(lim.get("velocity")))
        return out

    # ------------------------------------------------------------------ meshes
    @property
    def urdf(self):
        """yourdfpy model with visual meshes loaded (lazy: only rendering needs it)."""
        if self._urdf is None:
            import io

            import yourdfpy
            self._urdf = yourdfpy.URDF.load(io.StringIO(self.urdf_xml), load_meshes=False,
                                            build_scene_graph=False,
                                            filename_handler=_resolve_package_uri(self.urdf_path))
        return self._urdf

    def link_meshes(self) -> dict:
        """{link name: trimesh.Trimesh} of visual geometry, in each link's own frame."""
        import trimesh
        out = {}
        for link_name, link in self.urdf.link_map.items():
            parts = []
            for vis in link.visuals:
                if vis.geometry.mesh is None:
                    continue
                fname = _resolve_package_uri(self.urdf_path)(vis.geometry.mesh.filename)
                if not os.path.isfile(fname):
                    raise FileNotFoundError(f"Mesh of link '{link_name}' not found: {fname}")
                loaded = trimesh.load(fname, force="mesh")
                if vis.geometry.mesh.scale is not None:
                    loaded.apply_scale(vis.geometry.mesh.scale)
                if vis.origin is not None:
                    loaded.apply_transform(vis.origin)
                parts.append(loaded)
            if parts:
                out[link_name] = trimesh.util.concatenate(parts)
        return out

    # ------------------------------------------------------------------ FK
    def full_q(self, q_arm: torch.Tensor, finger_m: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Joint dict for the whole chain: arm (B, 7) and fingers (B,) metres of each finger's travel."""
        B = q_arm.shape[0]
        if finger_m is None:
            finger_m = torch.full((B,), self.config.finger_open_m, device=q_arm.device)
        th = {n: q_arm[:, i] for i, n in enumerate(self.config.arm_joints)}
        for n in self.config.finger_joints:
            th[n] = finger_m
        return th

    def link_poses(self, q_arm: torch.Tensor, finger_m: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """{link: (B, 4, 4)} link-to-base transforms."""
        ret = self.chain.forward_kinematics(self.full_q(q_arm, finger_m))
        return {k: v.get_matrix() for k, v in ret.items()}

    def _build_serial(self) -> None:
        """Fixed joint offsets and axes of the arm chain, for the fast FK/Jacobian used by IK.

        pytorch-kinematics' generic FK costs ~5 ms and its Jacobian ~15 ms per call at batch 1 on this
        CPU; IK calls them ~10x per control step, so the arm gets a direct product-of-offsets path
        (checked against pytorch-kinematics in the tests)."""
        self._offsets, self._axes = [], []
        for f in self.arm._serial_frames:
            off = f.joint.offset.get_matrix()[0] if f.joint.offset is not None else torch.eye(4)
            self._offsets.append(off.to(self.device, torch.float32))
            revolute = f.joint.joint_type == "revolute"
            self._axes.append(f.joint.axis.to(self.device, torch.float32) if revolute else None)

    def _arm_frames(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Hand pose (B, 4, 4), joint origins (B, 7, 3) and joint axes (B, 7, 3), base frame."""
        B = q.shape[0]
        T = torch.eye(4, device=q.device).expand(B, 4, 4)
        origins, axes, j = [], [], 0
        for off, axis in zip(self._offsets, self._axes):
            T = T @ off
            if axis is not None:
                origins.append(T[:, :3, 3])
                axes.append(T[:, :3, :3] @ axis)
                R = torch.eye(4, device=q.device).repeat(B, 1, 1)
                R[:, :3, :3] = _rodrigues(axis, q[:, j])
                T = T @ R
                j += 1
        return T, torch.stack(origins, 1), torch.stack(axes, 1)

    def fk(self, q_arm: torch.Tensor) -> torch.Tensor:
        """Tool-centre-point pose (B, 4, 4) in the base frame for arm joints (B, 7)."""
        T = self._arm_frames(q_arm)[0].clone()
        T[:, :3, 3] = T[:, :3, 3] + T[:, :3, :3] @ self.tcp_offset
        return T

    def hand_fk(self, q_arm: torch.Tensor) -> torch.Tensor:
        """Hand-link pose (B, 4, 4) in the base frame."""
        return self._arm_frames(q_arm)[0]

    def jacobian(self, q_arm: torch.Tensor) -> torch.Tensor:
        """Geometric TCP Jacobian (B, 6, 7), base frame, [linear; angular]."""
        T, origins, axes = self._arm_frames(q_arm)
        p_tcp = T[:, :3, 3] + T[:, :3, :3] @ self.tcp_offset
        lin = torch.cross(axes, p_tcp[:, None, :] - origins, dim=-1)
        return torch.cat([lin, axes], dim=-1).transpose(1, 2)

    # ------------------------------------------------------------------ IK
    @torch.no_grad()
    def ik(self, T_target: torch.Tensor, q_init: torch.Tensor | None = None,
           generator: torch.Generator | list[torch.Generator] | None = None) -> IKResult:
        """Damped-least-squares IK for TCP targets (B, 4, 4), warm-started from q_init (B, 7).

        Targets that do not converge from the warm start are retried from random configurations drawn
        from ``generator``, or from ``generator[i]`` for target i when a list is given (one per env of a
        vector env: each target's result is then independent of the rest of the batch); the result is
        always the closest solution found (never raises for unreachable targets).
        """
        # Thousands of tiny (7x7) ops: intra-op threads only add contention (measured 20x slower
        # on 2 busy cores), so IK runs single-threaded and restores the caller's setting.
        n_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._ik(T_target, q_init, generator)
        finally:
            torch.set_num_threads(n_threads)

    def _ik(self, T_target: torch.Tensor, q_init: torch.Tensor | None = None,
            generator: torch.Generator | list[torch.Generator] | None = None) -> IKResult:
        cfg = self.config
        B = T_target.shape[0]
        q0 = self.home_q.expand(B, 7).clone() if q_init is None else q_init.to(self.device).clone()
        best = self._dls(T_target, q0)
        todo = (~best.converged).nonzero().squeeze(1)
        if cfg.ik_restarts > 0 and todo.numel() > 0:
            # All restarts of all failed targets in one batch. A restart replaces the warm-start
            # result only if it converges (closest to q_init among those): for an unreachable target
            # the warm-started DLS result is the continuous "closest reach", not a jump to another branch.
            R, n = cfg.ik_restarts, todo.numel()
            u = self._restart_draws(R, todo, generator)
            qr = self.q_low + u * (self.q_high - self.q_low)
            cand = self._dls(T_target[todo].repeat(R, 1, 1), qr, cfg.ik_max_iters * 2)
            dist = (cand.q - q0[todo].repeat(R, 1)).norm(dim=1)
            dist = torch.where(cand.converged, dist, torch.full_like(dist, float("inf"))).view(R, n)
            pick = dist.argmin(dim=0) * n + torch.arange(n, device=self.device)
            found = torch.isfinite(dist.min(dim=0).values)
            idx, pick = todo[found], pick[found]
            for name in ("q", "pos_err_m", "rot_err_rad", "converged"):
                getattr(best, name)[idx] = getattr(cand, name)[pick]
        return best

    def _restart_draws(self, R: int, todo: torch.Tensor, generator) -> torch.Tensor:
        """Uniform draws (R * n, 7) for R restarts of the n failed targets ``todo``; row r·n + j is
        restart r of target todo[j]."""
        if not isinstance(generator, (list, tuple)):
            return torch.rand((R * todo.numel(), 7), generator=generator, device=self.device)
        per_target = [torch.rand((R, 7), generator=generator[i], device=self.device) for i in todo.tolist()]
        return torch.stack(per_target, dim=1).reshape(R * todo.numel(), 7)

    def _dls(self, T_target: torch.Tensor, q: torch.Tensor, iters: int | None = None) -> IKResult:
        """Damped least squares with clamped task-space error, keeping the best iterate per target
        (so an unreachable target yields the closest reach, not wherever the iterations ended)."""
        cfg = self.config
        lam2 = cfg.ik_damping ** 2
        eye = torch.eye(6, device=self.device)
        best_q, best_score = q.clone(), torch.full((q.shape[0],), float("inf"), device=self.device)
        for _ in range((iters or cfg.ik_max_iters) + 1):
            T = self.fk(q)
            e_pos = T_target[:, :3, 3] - T[:, :3, 3]
            e_rot = rotation_error(T_target[:, :3, :3], T[:, :3, :3])
            score = e_pos.norm(dim=1) + cfg.ik_rot_weight_m * e_rot.norm(dim=1)
            better = score < best_score
            best_q[better], best_score[better] = q[better], score[better]
            done = (e_pos.norm(dim=1) < cfg.ik_pos_tol_m) & (e_rot.norm(dim=1) < cfg.ik_rot_tol_rad)
            if bool(done.all()):
                break
            e = torch.cat([_clamp_norm(e_pos, cfg.ik_max_step_m), _clamp_norm(e_rot, cfg.ik_max_step_rad)], 1)
            J = self.jacobian(q)
            dq = J.transpose(1, 2) @ torch.linalg.solve(J @ J.transpose(1, 2) + lam2 * eye, e.unsqueeze(-1))
            q = torch.where(done.unsqueeze(1), q, torch.clamp(q + dq.squeeze(-1), self.q_low, self.q_high))
        T = self.fk(best_q)
        pos_err = (T_target[:, :3, 3] - T[:, :3, 3]).norm(dim=1)
        rot_err = rotation_error(T_target[:, :3, :3], T[:, :3, :3]).norm(dim=1)
        conv = (pos_err < 5 * cfg.ik_pos_tol_m) & (rot_err < 5 * cfg.ik_rot_tol_rad)
        return IKResult(q=best_q, pos_err_m=pos_err, rot_err_rad=rot_err, converged=conv)

    def random_q(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand((n, 7), generator=generator, device=self.device)
        return self.q_low + u * (self.q_high - self.q_low)


@dataclass
class GripperModel:
    """Commanded gripper in [-1 open, 1 closed] -> finger travel, modelled on robosuite's Panda gripper.

    robosuite moves an internal command by ``speed`` per physics substep towards sign(action), and a
    force-limited position servo follows it; we integrate the same law per control step plus a
    first-order lag fitted to the servo (measured: ~30% of the remaining gap per 50 ms step).
    """
    speed_per_substep: float = 0.01
    substeps_per_control: int = 25
    finger_open_m: float = 0.04
    servo_lag_alpha: float = 0.3
    state: float = -1.0
    finger_m: float = 0.04
    stop_m: float | None = None     # where an object between the pads stopped the fingers; None: free

    def reset(self, state: float = -1.0, finger_m: float | None = None) -> None:
        self.state = float(state)
        self.finger_m = self.command_m if finger_m is None else float(finger_m)
        self.stop_m = None

    def step(self, command: float) -> float:
        delta = self.speed_per_substep * self.substeps_per_control * float(np.sign(command))
        self.state = float(np.clip(self.state + delta, -1.0, 1.0))
        if self.stop_m is not None and self.command_m > self.stop_m:
            self.stop_m = None               # opening past the object: it is released
        self.finger_m += self.servo_lag_alpha * (self.command_m - self.finger_m)
        if self.stop_m is not None:
            self.finger_m = max(self.finger_m, self.stop_m)
        return self.finger_m

    def hold(self, stop_m: float) -> None:
        """An object between the pads stops them at ``stop_m`` (m per finger) until the gripper opens."""
        self.stop_m = float(stop_m)
        self.finger_m = max(self.finger_m, self.stop_m)

    @property
    def command_m(self) -> float:
        """Servo set-point of each finger, metres: open_m at -1, 0 at +1."""
        return float(self.finger_open_m * (1.0 - self.state) / 2.0)
