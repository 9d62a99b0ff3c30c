"""Trial-only data: a copy of shards whose ``obs/finger_cmd`` holds the simulator's measured finger opening
(``obs/gripper_states[:, 0]``), so that the action-conditioned ablation gets the grasp as an explicit per-frame
token. Never used by the library; the copies are labelled in their manifest.

PYTHONPATH=. python benchmarks/results/trials/grasp_contact/measured_finger_actions.py data/lift_train_mf data/lift_train_mfa
"""
import json, shutil, sys
from pathlib import Path
import h5py

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for f in sorted(src.glob("*.hdf5")):
    shutil.copy(f, dst / f.name)
    with h5py.File(dst / f.name, "r+") as h:
        for n in h["data"]:
            obs = h["data"][n]["obs"]
            obs["finger_cmd"][...] = obs["gripper_states"][:, 0]
m = json.loads((src / "manifest.json").read_text())
m["trial_note"] = "obs/finger_cmd replaced by the measured finger opening (grasp_contact trial)"
(dst / "manifest.json").write_text(json.dumps(m, indent=2))
print("wrote", dst)
