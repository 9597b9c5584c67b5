#!/usr/bin/env bash
# Create (or reuse) the environment in .venv/ at the repository root:
#   1. the pinned stack of requirements.txt (torch 2.14.0 + torchvision 0.29.2 included);
#   2. detectron2 v0.6's Python sources, without compiling detectron2._C
#      (tools/install_detectron2.py; an importable detectron2, e.g. one built from
#      source, is kept as is);
#   3. this project, editable.
# Idempotent: a stamp of the inputs above skips all steps when nothing changed.
# Set PYTHON to choose the interpreter that creates the venv (default: python3, >= 3.11).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
step="start"

say() { echo "[setup_env] $*"; }
trap 'echo "[setup_env] error: step \"$step\" failed (see the output above)" >&2' ERR

cd "$root"
stamp="$venv/.troi-setup-stamp"
inputs_hash="$(cat requirements.txt setup.py tools/install_detectron2.py tools/setup_env.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs_hash" ] \
    && "$venv/bin/python" -c "from troi import add_troi_config" >/dev/null 2>&1; then
    say "reusing $venv (up to date)"
    exit 0
fi

step="create the virtual environment with $python"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
    "$python" -m venv "$venv"
fi

step="install the pinned requirements (requirements.txt)"
say "$step"
"$venv/bin/python" -m pip install --progress-bar off -q -r requirements.txt

step="install detectron2 v0.6 without its C++ extension"
say "$step"
"$venv/bin/python" tools/install_detectron2.py

step="install this project (editable)"
say "$step"
"$venv/bin/python" -m pip install --progress-bar off -q --no-deps --no-build-isolation -e .

step="check that troi and detectron2 import"
"$venv/bin/python" -W ignore -c "import troi.compat, detectron2.engine, detectron2.layers, detectron2.evaluation; from troi import add_troi_config"

echo "$inputs_hash" > "$stamp"
say "ready: $venv"
