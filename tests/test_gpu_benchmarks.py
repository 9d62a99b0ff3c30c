"""The GPU benchmarks' code paths at tiny size on the CPU (the same code runs on a GPU with --device cuda):
the paper-scale stages on a scaled-down Wan config, and the renderer's device comparison."""
import json

SMALL_WAN = ["height=32", "width=32", "frames_per_chunk=9", "context_frames=5", "clip_frames=9", "vae_base_dim=8",
             "vae_z_dim=4", "vae_num_res_blocks=1", "num_attention_heads=2", "attention_head_dim=16", "ffn_dim=64",
             "num_layers=2", "freq_dim=32", "text_dim=24", "image_dim=16", "added_kv_proj_dim=32", "image_seq_len=8",
             "robot_token_grid=[2,2,2]", "lora_rank=4"]


def test_paper_scale_stages_run_scaled_down(tmp_path):
    from benchmarks.paper_scale import main
    out = tmp_path / "ps.json"
    args = ["--out", str(out), "--workdir", str(tmp_path / "wan"), "--device", "cpu", "--train-steps", "2"]
    assert main(args + [x for o in SMALL_WAN for x in ("--set", o)]) == 0
    r = json.loads(out.read_text())
    assert (tmp_path / "wan" / "transformer" / "config.json").exists() and r["write"]["dit_params_b"] > 0
    assert r["load"]["lora_dtypes"] == ["torch.float32"] and r["load"]["trainable_params_m"] > 0
    assert len(r["train"]["losses"]) == 2 and all(l == l for l in r["train"]["losses"])   # finite, not NaN
    assert r["sample"]["chunk_s_estimate"] > 0


def test_renderer_part_compares_devices(tmp_path):
    from benchmarks.gpu import renderer
    r = renderer("cpu", None, n_frames=8)
    assert r["mask_agreement"] == 1.0 and r["max_point_gap_m"] == 0.0 and 0 < r["robot_pixel_fraction"] < 1
