"""The GPU benchmarks' code paths at tiny size on the CPU (the same code runs on a GPU with --device cuda):
the paper-scale stages on a scaled-down Wan config, and the renderer's device comparison."""
import json


def test_paper_scale_stages_run_scaled_down(tmp_path, small_wan_fields):
    from benchmarks.paper_scale import main
    out = tmp_path / "ps.json"
    args = ["--out", str(out), "--workdir", str(tmp_path / "wan"), "--device", "cpu", "--train-steps", "2"]
    assert main(args + [x for k, v in small_wan_fields.items() for x in ("--set", f"{k}={json.dumps(v)}")]) == 0
    r = json.loads(out.read_text())
    assert (tmp_path / "wan" / "transformer" / "config.json").exists() and r["write"]["dit_params_b"] > 0
    assert r["load"]["lora_dtypes"] == ["torch.float32"] and r["load"]["trainable_params_m"] > 0
    assert len(r["train"]["losses"]) == 2 and all(l == l for l in r["train"]["losses"])   # finite, not NaN
    assert r["sample"]["chunk_s_estimate"] > 0


def test_renderer_part_compares_devices(tmp_path):
    from benchmarks.gpu import renderer
    r = renderer("cpu", None, n_frames=8)
    assert r["mask_agreement"] == 1.0 and r["max_point_gap_m"] == 0.0 and 0 < r["robot_pixel_fraction"] < 1
