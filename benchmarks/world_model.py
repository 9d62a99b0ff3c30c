"""World-model quality on held-out episodes: the 4D model against its baselines, chunk by chunk.

    python -m benchmarks.world_model --out results.json --data data/lift_eval \\
        --method kinema4d=assets/world_model/lift \\
        --method action=out/wm_bench/action/model --method rgb_only=out/wm_bench/rgb_only/model

Every method starts from the episode's real frame 0 and generates the next ``chunks x 12`` frames
(frame stride 1, one frame per control step, as Kinema4D-v0 steps), given what each method is
allowed: the learned models the future robot pointmaps (``kinema4d``, ``rgb_only``) or joint_pos
action vectors (``action``); ``copy_last_frame`` repeats frame 0; ``paste_robot`` pastes the robot's
true pixels (RGB from the ground truth, XYZ from the kinematic robot pointmap) onto frame 0. The
first method given is "ours". Metrics per frame, averaged per chunk and over all frames:
psnr, ssim, psnr_dynamic (pixels that change in the ground truth over the clip, plus robot pixels),
depth_absrel / depth_delta1 (camera z of the generated world pointmap, true-valid pixels),
chamfer_l1_m / fscore_1cm (point clouds of the true-valid pixels, world frame).
Also: vae_recon_psnr, sample_ms_per_frame_b1 / _b8, train_step_s, peak_rss_mb and the training wall
clock recorded beside the checkpoint. Writes JSON, a per-chunk plot and a side-by-side mp4
(ground truth | ours | best baseline; RGB above, depth below).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.common import parser, peak_rss_mb, write_results
from robo4d_env.envs.kinema4d_env import tcp_world
from robo4d_env.kinematics import RobotModel
from robo4d_env.metrics import chamfer_fscore, depth_errors, psnr, ssim

METRICS = ("psnr", "ssim", "psnr_dynamic", "depth_absrel", "depth_delta1", "chamfer_l1_m", "fscore_1cm")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "psnr_dynamic": True, "depth_absrel": False,
                    "depth_delta1": True, "chamfer_l1_m": False, "fscore_1cm": True}
DYNAMIC_THRESHOLD = 12            # uint8 levels: a pixel "changes" when any channel moves this much from frame 0
FSCORE_THRESHOLD_M = 0.01
LPIPS_REASON = ("LPIPS needs pretrained AlexNet/VGG backbone weights that the lpips/torchvision packages "
                "download from a hub at first use; these machines are offline, so it is not computed")
TRAIN_STEP_BATCH = 4              # the batch the default preset's DiT was trained with
TIMING_REPEATS = 3


# --------------------------------------------------------------------------------------- data
def load_episodes(data, n_frames: int, max_episodes: int) -> list[dict]:
    """Up to ``max_episodes`` held-out episodes with at least ``n_frames`` frames, spread evenly over
    the files; each a dict of (n_frames, ...) tensors (world-frame pointmaps) + T_world_cam + name."""
    from robo4d_env.data.dataset import Robo4DDataset
    ds = Robo4DDataset(data, context_frames=1, future_frames=0, clip_frames=1)
    long = [i for i, e in enumerate(ds.episodes) if e.n_frames >= n_frames]
    if not long:
        raise ValueError(f"no episode in {data} has {n_frames} frames; generate long eval episodes with "
                         f"`robo4d data generate --split eval --run-to-horizon --max-steps {n_frames - 1}`")
    pick = [long[int(i)] for i in np.linspace(0, len(long) - 1, min(max_episodes, len(long))).round()]
    robot, eps = RobotModel(), []
    for i in dict.fromkeys(pick):
        item = ds.frames(i, np.arange(n_frames))
        item["name"] = f"{ds.episodes[i].path.name}:{ds.episodes[i].name}"
        # commanded tool-centre points, as Kinema4D-v0 computes them (for ghost removal)
        item["tcp_world"] = torch.from_numpy(tcp_world(robot.fk(item["q_cmd"].float()), item["T_world_base"].numpy()))
        eps.append(item)
    return eps


# --------------------------------------------------------------------------------------- methods
def copy_last_frame(ep: dict, T: int) -> dict:
    return {"rgb": ep["rgb"][:1].repeat(T, 1, 1, 1).numpy(), "pointmap": ep["pointmap"][:1].repeat(T, 1, 1, 1).numpy()}


def paste_robot(ep: dict, T: int) -> dict:
    """Frame 0 with the robot's true pixels (RGB) and kinematic robot points (XYZ) pasted in."""
    m = ep["robot_mask"][1:T + 1, ..., None]
    rgb = torch.where(m, ep["rgb"][1:T + 1], ep["rgb"][:1])
    pm = torch.where(m, ep["robot_pointmap"][1:T + 1], ep["pointmap"][:1])
    return {"rgb": rgb.numpy(), "pointmap": pm.numpy()}


def rollout_batch(model, eps: list[dict], T: int, seed: int, num_steps: int | None = None,
                  guidance_scale: float | None = None, residual_decoding: bool | None = None,
                  contact_radius_m: float | None = None, robot_points: bool | None = None,
                  snap_to_rays: bool | None = None, refine_robot: bool | None = None) -> list[dict]:
    """One batched autoregressive rollout of a learned model from every episode's frame 0
    (sampling steps, guidance, residual decoding and contact radius: the checkpoint's own when None)."""
    from robo4d_env.world_model.modeling_world_model import rollout_episodes
    out = rollout_episodes(model, eps, T, [torch.Generator().manual_seed(seed + i) for i in range(len(eps))],
                           num_steps=num_steps, guidance_scale=guidance_scale, residual_decoding=residual_decoding,
                           contact_radius_m=contact_radius_m, robot_points_from_kinematics=robot_points,
                           snap_to_camera_rays=snap_to_rays, refine_robot=refine_robot)
    return [{k: v[b].numpy() for k, v in out.items()} for b in range(len(eps))]


def load_model(path: str):
    from robo4d_env.world_model.modeling_world_model import load_world_model
    return load_world_model(path).eval()


# --------------------------------------------------------------------------------------- metrics
def camera_depth(pm_world: np.ndarray, T_world_cam: np.ndarray) -> np.ndarray:
    """(..., 3) world points -> (...) camera-frame z (OpenCV), metres."""
    R, t = T_world_cam[:3, :3], T_world_cam[:3, 3]
    return (pm_world - t) @ R[:, 2]


def frame_metrics(ep: dict, pred: dict, T: int) -> list[dict]:
    """Per generated frame t = 1..T: the METRICS (depth/point metrics None without a pointmap)."""
    gt_rgb = ep["rgb"][:T + 1].numpy()
    dyn = (np.abs(gt_rgb.astype(np.int16) - gt_rgb[:1]).max(-1) > DYNAMIC_THRESHOLD).any(0)
    Twc = ep["T_world_cam"].numpy().astype(np.float64)
    rows = []
    for i in range(T):
        t = i + 1
        gt, pr = gt_rgb[t], pred["rgb"][i]
        row = {"psnr": psnr(pr, gt), "ssim": ssim(pr, gt),
               "psnr_dynamic": psnr(pr, gt, dyn | ep["robot_mask"][t].numpy())}
        if "pointmap" in pred:
            valid = ep["valid"][t].numpy()
            gt_pm, pr_pm = ep["pointmap"][t].numpy(), pred["pointmap"][i]
            row["depth_absrel"], row["depth_delta1"] = depth_errors(camera_depth(pr_pm, Twc), camera_depth(gt_pm, Twc), valid)
            row["chamfer_l1_m"], row["fscore_1cm"] = chamfer_fscore(pr_pm[valid], gt_pm[valid], FSCORE_THRESHOLD_M)
        else:
            row.update({k: None for k in METRICS[3:]})
        rows.append(row)
    return rows


def summarize(per_episode: list[list[dict]], chunk: int, n_chunks: int) -> dict:
    """Per-chunk and overall means (NaN-skipping) of per-frame rows of every episode."""
    def mean(rows, k):
        v = [r[k] for r in rows if r[k] is not None and np.isfinite(r[k])]
        return float(np.mean(v)) if v else None
    flat = [r for rows in per_episode for r in rows]
    per_chunk = []
    for c in range(n_chunks):
        rows = [r for ep in per_episode for r in ep[c * chunk:(c + 1) * chunk]]
        per_chunk.append({"chunk": c, **{k: mean(rows, k) for k in METRICS}})
    return {"per_chunk": per_chunk, "overall": {k: mean(flat, k) for k in METRICS}}


def better(a, b, metric: str) -> bool | None:
    if a is None or b is None:
        return None if b is None else False
    return a > b if HIGHER_IS_BETTER[metric] else a < b


def comparison(results: dict, ours: str) -> dict:
    """For every metric: does ours beat every baseline overall and in every chunk?"""
    out = {}
    for k in METRICS:
        overall, chunks = [], []
        for name, r in results.items():
            if name == ours:
                continue
            b = better(results[ours]["overall"][k], r["overall"][k], k)
            if b is not None:
                overall.append(b)
            for co, cb in zip(results[ours]["per_chunk"], r["per_chunk"]):
                b = better(co[k], cb[k], k)
                if b is not None:
                    chunks.append(b)
        out[k] = {"beats_all_overall": all(overall) if overall else None,
                  "beats_all_every_chunk": all(chunks) if chunks else None}
    return out


# --------------------------------------------------------------------------------------- extras
@torch.no_grad()
def vae_recon(model, eps: list[dict]) -> dict:
    """VAE round trip of consecutive frames_per_chunk-frame windows of the held-out episodes."""
    from robo4d_env.world_model.modeling_world_model import RGB, XYZ, pointmap_to_unit, rgb_to_unit, unit_to_rgb, unit_to_pointmap
    n, rgb_p, xyz_err = model.wm.frames_per_chunk, [], []
    for ep in eps:
        for s in range(0, ep["rgb"].shape[0] - n + 1, n - 1):
            w = {k: ep[k][s:s + n][None] for k in ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask")}
            lo, hi = model.normalisation_bounds(w["pointmap"], w["valid"], w["robot_pointmap"], w["robot_mask"])
            rgb = unit_to_rgb(model.decode(model.encode(rgb_to_unit(w["rgb"]), RGB), RGB))[0].numpy()
            rgb_p += [psnr(a, b) for a, b in zip(rgb, w["rgb"][0].numpy())]
            xyz = model.decode(model.encode(pointmap_to_unit(w["pointmap"], w["valid"], lo, hi), XYZ), XYZ)
            err = (unit_to_pointmap(xyz, lo, hi) - w["pointmap"]).norm(dim=-1)[w["valid"]]
            xyz_err.append(err)
    err = torch.cat(xyz_err)
    return {"rgb_psnr": float(np.mean(rgb_p)), "xyz_err_m_median": float(err.median()),
            "xyz_err_m_mean": float(err.mean()), "n_windows": len(rgb_p) // n}


def sample_ms_per_frame(model, eps: list[dict], batch: int) -> float:
    """Wall time of generating one chunk for ``batch`` envs at once, per generated frame."""
    n_new = model.wm.frames_per_chunk - model.wm.context_frames
    group = [eps[i % len(eps)] for i in range(batch)]
    rollout_batch(model, group, n_new, seed=0)                # warm-up
    t0 = time.perf_counter()
    for _ in range(TIMING_REPEATS):
        rollout_batch(model, group, n_new, seed=0)
    return 1000.0 * (time.perf_counter() - t0) / (TIMING_REPEATS * batch * n_new)


def train_step_s(model, eps: list[dict]) -> float:
    """Seconds per optimiser step (forward, backward, AdamW) on cached latents, batch TRAIN_STEP_BATCH."""
    import copy
    from robo4d_env.world_model.latent_cache import encode_clips
    from robo4d_env.world_model.windows import rollout_window_indices
    n = model.wm.frames_per_chunk
    n_new = n - model.wm.context_frames
    wins = [{k: ep[k][rollout_window_indices(model.wm, min(1 + n_new * i, len(ep["rgb"]) - 1), len(ep["rgb"]))]
             for k in ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask", "q_cmd", "finger_cmd")}
            for i, ep in enumerate((eps * TRAIN_STEP_BATCH)[:TRAIN_STEP_BATCH])]
    batch = {k: v.flatten(0, 1) for k, v in encode_clips(model, wins).items()}    # (B, 1, ...) -> (B, ...)
    batch["null_robot"] = model.null_robot_latents(n).expand(TRAIN_STEP_BATCH, -1, -1, -1, -1)
    m = copy.deepcopy(model).train()
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-5)
    times = []
    for _ in range(TIMING_REPEATS + 1):
        t0 = time.perf_counter()
        m.training_loss(batch).backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return float(np.mean(times[1:]))


def normalisation_check(model, eps: list[dict]) -> dict:
    """For "workspace" (fixed box) and "minmax" (per sequence, from what a rollout knows: frame 0 and the
    robot points): the box extent (metres per unit of the [-1, 1] image, per axis) and the fraction of
    true future scene points that fall outside the box and would be clamped."""
    import dataclasses
    from robo4d_env.world_model.modeling_world_model import pointmap_bounds
    out = {}
    for norm in ("workspace", "minmax"):
        cfg = dataclasses.replace(model.wm, pointmap_norm=norm)
        ext, clamped = [], []
        for ep in eps:
            pts = torch.cat([ep["pointmap"][:1].reshape(1, -1, 3), ep["robot_pointmap"].reshape(1, -1, 3)], 1)
            msk = torch.cat([ep["valid"][:1].reshape(1, -1), ep["robot_mask"].reshape(1, -1)], 1)
            lo, hi = pointmap_bounds(cfg, pts, msk)
            fut = ep["pointmap"][1:][ep["valid"][1:]]
            clamped.append(float(((fut < lo) | (fut > hi)).any(-1).float().mean()))
            ext.append(((hi - lo) / 2)[0])
        out[norm] = {"metres_per_unit_xyz": torch.stack(ext).mean(0).tolist(),
                     "clamped_fraction": float(np.mean(clamped))}
    return out


def training_wall_clock(path: str) -> dict | None:
    f = Path(path) / "training_time.json"
    return json.loads(f.read_text()) if f.exists() else None


# --------------------------------------------------------------------------------------- outputs
def plot(results: dict, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for ax, k in zip(axes.flat, METRICS):
        for i, (name, r) in enumerate(results.items()):     # one colour per method in every panel
            ys = [c[k] for c in r["per_chunk"]]
            if all(y is None for y in ys):
                continue
            ax.plot(range(len(ys)), [np.nan if y is None else y for y in ys], marker="o", label=name, color=f"C{i}")
            ax.set_xticks(range(len(ys)))
        ax.set_title(f"{k} ({'higher' if HIGHER_IS_BETTER[k] else 'lower'} is better)")
        ax.set_xlabel("chunk index (12 frames each)")
    axes.flat[-1].axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def side_by_side(ep: dict, preds: dict, names: list[str], path: Path) -> Path:
    """Columns ground truth | each named method; top row RGB, bottom row depth (same colour scale)."""
    from robo4d_env.video import colorize_depth, write_mp4
    Twc = ep["T_world_cam"].numpy().astype(np.float64)
    T = len(preds[names[0]]["rgb"])
    gt_depth = camera_depth(ep["pointmap"][1:T + 1].numpy(), Twc)
    valid = ep["valid"][1:T + 1].numpy()
    lo, hi = np.percentile(gt_depth[valid], [1, 99])
    frames = []
    for i in range(T):
        top = [ep["rgb"][i + 1].numpy()] + [preds[n]["rgb"][i] for n in names]
        bottom = [colorize_depth(gt_depth[i], valid[i], lo, hi)]
        for n in names:
            p = preds[n].get("pointmap")
            bottom.append(np.zeros_like(top[0]) if p is None else
                          colorize_depth(camera_depth(p[i], Twc), np.ones(valid[i].shape, bool), lo, hi))
        frames.append(np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0))
    return write_mp4(path, frames, fps=8, upscale=3)


# --------------------------------------------------------------------------------------- main
def parse_radius(text: str | None) -> float | None:
    """--contact-radius-m: None (the checkpoint's), 'off' (-1: compositing off) or metres >= 0."""
    if text is None:
        return None
    if text == "off":
        return -1.0
    try:
        r = float(text)
    except ValueError:
        r = float("nan")
    if not np.isfinite(r) or r < 0:
        raise SystemExit(f"--contact-radius-m must be 'off' or a distance >= 0 in metres, got {text!r}")
    return r


def main(argv=None) -> int:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", default=["data/lift_eval"], help="held-out shards (never trained on)")
    p.add_argument("--method", action="append", default=None, metavar="NAME=CHECKPOINT",
                   help="a learned world model to compare (repeatable; the first is 'ours')")
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--chunks", type=int, default=4, help="chunks generated per episode (12 frames each)")
    p.add_argument("--batch", type=int, default=8, help="episodes per batched rollout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--artifacts", default=None,
                   help="plot and mp4 directory (default: beside --out, named after it: results.json -> results/)")
    p.add_argument("--sampling-steps", type=int, default=None, help="default: each checkpoint's own")
    p.add_argument("--guidance-scale", type=float, default=None,
                   help="classifier-free guidance on the robot condition (default: each checkpoint's own)")
    p.add_argument("--residual-decoding", choices=["on", "off"], default=None,
                   help="decode only what changed onto the context frame (default: each checkpoint's own)")
    p.add_argument("--contact-radius-m", default=None,
                   help="keep the known frame outside the robot's contact region of this radius, or 'off' "
                        "(default: each checkpoint's own)")
    p.add_argument("--robot-points", choices=["kinematic", "generated"], default=None,
                   help="the robot's pixels of the world pointmap from kinematics or from the model "
                        "(default: each checkpoint's own)")
    p.add_argument("--snap-to-rays", choices=["on", "off"], default=None,
                   help="move each generated point onto its pixel's camera ray (default: each checkpoint's own)")
    p.add_argument("--refine-robot", choices=["on", "off"], default=None,
                   help="redraw the robot with the checkpoint's robot refiner (default: on when it has one)")
    p.add_argument("--no-extras", action="store_true", help="skip VAE / speed / train-step figures")
    p.add_argument("--device", default="cpu", help="where the models run (cpu, cuda); metrics stay on the CPU")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = dict(m.split("=", 1) for m in (args.method or ["kinema4d=assets/world_model/lift"]))
    ours = next(iter(methods))
    models = {n: load_model(path).to(args.device) for n, path in methods.items()}
    residual = None if args.residual_decoding is None else args.residual_decoding == "on"
    radius = parse_radius(args.contact_radius_m)
    robot_points = None if args.robot_points is None else args.robot_points == "kinematic"
    snap = None if args.snap_to_rays is None else args.snap_to_rays == "on"
    refine = None if args.refine_robot is None else args.refine_robot == "on"
    n_new = models[ours].wm.frames_per_chunk - models[ours].wm.context_frames
    T = args.chunks * n_new
    eps = load_episodes(args.data, T + 1, args.episodes)

    preds = {n: [] for n in [*models, "copy_last_frame", "paste_robot"]}
    for n, model in models.items():
        for i in tqdm(range(0, len(eps), args.batch), desc=f"rollout {n}", unit="batch"):
            preds[n] += rollout_batch(model, eps[i:i + args.batch], T, args.seed + i,
                                      args.sampling_steps, args.guidance_scale, residual, radius,
                                      robot_points, snap, refine)
    preds["copy_last_frame"] = [copy_last_frame(e, T) for e in eps]
    preds["paste_robot"] = [paste_robot(e, T) for e in eps]

    results = {}
    for n, pr in preds.items():
        rows = [frame_metrics(e, p_, T) for e, p_ in tqdm(list(zip(eps, pr)), desc=f"metrics {n}", unit="ep")]
        results[n] = summarize(rows, n_new, args.chunks)
    best_baseline = max((n for n in results if n != ours),
                        key=lambda n: results[n]["overall"]["psnr_dynamic"] or -np.inf)
    # not a fixed folder: a run must never overwrite the figures committed under benchmarks/results
    art = Path(args.artifacts) if args.artifacts else Path(args.out).with_suffix("")
    out = {"data": args.data, "episodes": [e["name"] for e in eps], "n_episodes": len(eps),
           "frames_generated_per_episode": T, "frames_per_chunk_generated": n_new, "chunks": args.chunks,
           "methods": {n: methods.get(n, "no training") for n in results}, "ours": ours, "device": args.device,
           "sampling_steps": args.sampling_steps, "guidance_scale": args.guidance_scale,
           "residual_decoding": {n: m.wm.residual_decoding if residual is None else residual
                                 for n, m in models.items()},
           "contact_radius_m": {n: m.wm.contact_radius_m if radius is None else (None if radius < 0 else radius)
                                for n, m in models.items()},
           "robot_points_from_kinematics": {n: m.wm.robot_points_from_kinematics if robot_points is None
                                            else robot_points for n, m in models.items()},
           "snap_to_camera_rays": {n: m.wm.snap_to_camera_rays if snap is None else snap for n, m in models.items()},
           "robot_refiner": {n: m.robot_refiner is not None and refine is not False for n, m in models.items()},
           "results": results, "lpips": None, "lpips_reason": LPIPS_REASON,
           "best_baseline_by_psnr_dynamic": best_baseline, "ours_vs_baselines": comparison(results, ours),
           "plot": str(plot(results, art / "per_chunk.png")),
           "video": str(side_by_side(eps[0], {n: v[0] for n, v in preds.items()}, [ours, best_baseline],
                                     art / "side_by_side.mp4"))}
    if not args.no_extras:
        m = models[ours]
        out["vae_recon_psnr"] = vae_recon(m, eps)
        out["sample_ms_per_frame_b1"] = sample_ms_per_frame(m, eps, 1)
        out["sample_ms_per_frame_b8"] = sample_ms_per_frame(m, eps, 8)
        out["train_step_s"] = train_step_s(m, eps)
        out["train_step_batch"] = TRAIN_STEP_BATCH
        out["training_wall_clock"] = training_wall_clock(methods[ours])
        out["pointmap_normalisation"] = normalisation_check(m, eps)
    out["peak_rss_mb"] = peak_rss_mb()
    write_results(args.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
