import json, sys, torch
torch.set_num_threads(1)
from benchmarks.world_model import vae_recon, load_episodes, load_model
eps = load_episodes(["data/lift_eval"], 49, 16)
out = {}
for name, ck in (("stop18", "out/s19/lift_shipped_noref"), ("stop19", "assets/world_model/lift")):
    out[name] = vae_recon(load_model(ck), eps)
    print(name, out[name], flush=True)
json.dump(out, open("benchmarks/results/trials/vae_decoder/vae_recon_lift_eval_windows.json", "w"), indent=1)
