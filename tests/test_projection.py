import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robo4d_env.cameras import (CameraSpec, ShellSampling, intrinsics_from_fovy, make_camera,
                                sample_shell_cameras)
from robo4d_env.projection import (RobotPointmapConfig, RobotPointmapRenderer, minmax_normalize_sequence,
                                   project, soft_robot_mask, unproject_depth)


@settings(max_examples=50, deadline=None)
@given(h=st.integers(4, 48), w=st.integers(4, 48), fovy=st.floats(20, 100),
       seed=st.integers(0, 2**31 - 1))
def test_unproject_then_project_round_trips(h, w, fovy, seed):
    K = intrinsics_from_fovy(fovy, h, w)
    depth = np.random.default_rng(seed).uniform(0.1, 5.0, (h, w))
    pm = unproject_depth(depth, K)
    uv, z = project(torch.as_tensor(pm.reshape(-1, 3), dtype=torch.float64), torch.as_tensor(K))
    v, u = np.mgrid[0:h, 0:w]
    np.testing.assert_allclose(uv[:, 0].numpy(), u.ravel(), atol=1e-3)
    np.testing.assert_allclose(uv[:, 1].numpy(), v.ravel(), atol=1e-3)
    np.testing.assert_allclose(z.numpy(), depth.ravel(), rtol=1e-5)


@settings(max_examples=50, deadline=None)
@given(pts=st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2), st.floats(0.2, 5)), min_size=1, max_size=20))
def test_project_then_unproject_round_trips(pts):
    K = torch.as_tensor(intrinsics_from_fovy(60, 64, 80))
    p = torch.tensor(pts, dtype=torch.float64)
    uv, z = project(p, K)
    x = (uv[:, 0] - K[0, 2]) / K[0, 0] * z
    y = (uv[:, 1] - K[1, 2]) / K[1, 1] * z
    torch.testing.assert_close(torch.stack([x, y, z], 1), p)


def test_look_at_puts_target_at_image_centre():
    cam = make_camera(CameraSpec("c", (1.0, -0.5, 1.5), (0.0, 0.1, 0.8), 45.0), 64, 64)
    p = cam.T_cam_world @ np.r_[0.0, 0.1, 0.8, 1.0]
    uv = cam.K @ (p[:3] / p[2])
    np.testing.assert_allclose(uv[:2], [31.5, 31.5], atol=1e-6)
    R = cam.T_world_cam[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    assert R[2, 1] < 0          # image "down" (+y) points down in the world


def test_shell_cameras_respect_the_robo4dgen_region():
    s = ShellSampling()
    specs = sample_shell_cameras(16, (0.0, 0.0, 0.8), np.random.default_rng(0), s)
    for spec in specs:
        off = np.asarray(spec.eye_m) - (0.0, 0.0, 0.8)
        assert s.r_min_m <= np.linalg.norm(off) <= s.r_max_m
        assert s.x_range_m[0] <= off[0] <= s.x_range_m[1] and s.z_range_m[0] <= off[2] <= s.z_range_m[1]


def test_minmax_normalisation_is_in_unit_range_and_invertible():
    pm = torch.randn(5, 8, 8, 3) * 0.3 + 1.0
    mask = torch.rand(5, 8, 8) > 0.3
    out, lo, hi = minmax_normalize_sequence(pm, mask)
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close((out * (hi - lo) + lo)[mask], pm[mask], atol=1e-5, rtol=1e-5)
    assert torch.all(out[~mask] == 0)


def test_soft_mask_sets_a_tenth_of_robot_pixels_to_half():
    mask = torch.zeros(4, 64, 64, dtype=torch.bool)
    mask[:, 10:50, 10:50] = True
    soft = soft_robot_mask(mask, generator=torch.Generator().manual_seed(0))
    frac = (soft[mask] == 0.5).float().mean()
    assert 0.08 < frac < 0.12
    assert torch.all(soft[~mask] == 0) and set(soft.unique().tolist()) <= {0.0, 0.5, 1.0}


def test_robot_pointmap_is_batched_and_in_front_of_camera(robot):
    r = RobotPointmapRenderer(robot, RobotPointmapConfig(points_per_m2=50_000))
    cam = make_camera(CameraSpec("c", (1.2, 0.0, 0.6), (0.3, 0.0, 0.4), 50.0), 32, 32)
    q = robot.random_q(3, torch.Generator().manual_seed(0))
    T = torch.as_tensor(cam.T_cam_world).expand(3, 4, 4)
    K = torch.as_tensor(cam.K).expand(3, 3, 3)
    pm, mask = r.render(q, torch.full((3,), 0.04), T, K, 32, 32)
    assert pm.shape == (3, 32, 32, 3) and mask.shape == (3, 32, 32) and mask.dtype == torch.bool
    assert mask.sum() > 20
    assert torch.all(pm[mask][:, 2] > 0) and torch.all(pm[~mask] == 0)
    # Each frame of a batch equals rendering it alone.
    pm1, mask1 = r.render(q[1:2], torch.full((1,), 0.04), T[:1], K[:1], 32, 32)
    assert torch.equal(mask1[0], mask[1]) and torch.allclose(pm1[0], pm[1])
    # Every robot pixel holds a surface point that projects back into that pixel.
    uv, _ = project(pm[mask], K[0])
    b, v, u = mask.nonzero(as_tuple=True)
    assert torch.all((uv[:, 0] - u).abs() <= 0.5 + 1e-3) and torch.all((uv[:, 1] - v).abs() <= 0.5 + 1e-3)
