"""Wall time of a batch-8, 48-frame lift rollout with ghost removal on and off (1 thread, interleaved)."""
import sys, time, torch
sys.path.insert(0, '.')
from benchmarks.world_model import load_episodes, load_model, rollout_batch
torch.set_num_threads(1)
eps = load_episodes('data/lift_eval', 49, 8)
m = load_model('assets/world_model/lift')
t = {0.01: [], -1.0: []}
for rep in range(3):
    for tol in (0.01, -1.0):
        m.wm.ghost_tolerance_m = tol
        t0 = time.perf_counter(); rollout_batch(m, eps, 48, 0); t[tol].append(time.perf_counter() - t0)
print({k: [round(x, 2) for x in v] for k, v in t.items()})
print('overhead %', round(100 * (min(t[0.01]) / min(t[-1.0]) - 1), 1))
