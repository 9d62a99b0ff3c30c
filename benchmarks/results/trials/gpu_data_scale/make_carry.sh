#!/usr/bin/env bash
# Builds what device_run.sh carries, in the repo root (all three folders are listed in .git/info/exclude):
#   .whl/      py3.12 wheels the device image lacks
#   .gl/       the EGL loader packages (the device README's recipe)
#   .gpu/rs/   robosuite 1.4.0 cut to its Python code, its XMLs, the files the lift scene loads and the Panda URDF
set -euo pipefail
PLAT="--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
python3 -m pip download -q --no-deps --only-binary=:all: $PLAT -d .whl diffusers==0.42.1 gymnasium==1.4.0 \
  farama-notifications importlib_metadata pytorch_kinematics arm_pytorch_utilities pytorch_seed yourdfpy \
  trimesh pycollada mujoco==3.3.7 pyopengl termcolor
mkdir -p .gl /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
mkdir -p .gpu/rs
python3 - <<'PY'
import os, re, subprocess
import robosuite as suite
site = os.path.dirname(os.path.dirname(suite.__file__))
env = suite.make("Lift", robots="Panda", has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False)
files = {os.path.relpath(f, site) for f in re.findall(r'file="([^"]+)"', env.model.get_xml())}
for root, _, names in os.walk(suite.__file__.rsplit("/", 1)[0]):
    rel = os.path.relpath(root, site)
    if "bullet_data" in rel and "panda_description" not in rel or "demonstrations" in rel or "__pycache__" in rel:
        continue
    for n in names:
        if n.endswith((".py", ".xml", ".json")) or "panda_description" in rel:
            files.add(os.path.join(rel, n))
open("/tmp/rs_files.txt", "w").write("\n".join(sorted(files)))
subprocess.run(["tar", "cJf", os.path.abspath(".gpu/rs/robosuite_lift.tar.xz"), "-C", site, "-T", "/tmp/rs_files.txt"],
               check=True)
PY
du -sh .whl .gl .gpu/rs
