"""Held-out VAE round trip (evaluate_vae) of several VAE dirs on data/lift_eval (40 episodes, 17-frame clips)."""
import sys, json, torch
from diffusers import AutoencoderKLWan
from robo4d_env.world_model.configuration_world_model import get_preset, VaeTrainingConfig
from robo4d_env.world_model.train import make_dataset
from robo4d_env.world_model.vae_training import evaluate_vae
torch.set_num_threads(int(sys.argv[1]))
cfg, _ = get_preset("default")
ds = make_dataset("data/lift_eval", cfg)
res = {}
for d in sys.argv[2:]:
    vae = AutoencoderKLWan.from_pretrained(d).eval()
    res[d] = evaluate_vae(vae, cfg, ds, VaeTrainingConfig())
    print(d, json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in res[d].items()}), flush=True)
