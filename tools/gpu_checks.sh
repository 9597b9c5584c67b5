#!/usr/bin/env bash
# The Performance issue's GPU checks (goal 4) as one call of a lent device machine.
#
#   bash tools/gpu_checks.sh prepare   # here, with .venv set up: .gpu/site, what that machine lacks
#   bash tools/gpu_checks.sh run       # there: command "bash tools/gpu_checks.sh run", carry [".gpu"]
#
# The device machine has Python 3.12 with torch, torchvision, numpy, OpenCV, SciPy, Matplotlib,
# TensorBoard and the like (/work/.library/device/KINDS.md), and no network. `prepare` copies
# detectron2 v0.6 and its pure-Python dependencies from .venv (no compiled code: detectron2._C
# is not needed, see troi/compat.py), and unpacks the cp312 wheels of pycocotools and
# faster-coco-eval (versions of requirements.txt), into .gpu/site (7 MB; git ignores .gpu/).
# `run` puts .gpu/site and the repository on PYTHONPATH and runs, each under a time limit, with
# its JSON line and log under $OUT (default .gpu/out): the operator benchmark (the full-matrix
# comparison and the bfloat16 search included), the training step against RoI Align, and the
# cached video predictor at R50-DC5 scale with its per-stage breakdown.
#
# Dry run here (small shapes, CPU, the venv's interpreter):
#   DEVICE=cpu QUICK=1 PYTHON=.venv/bin/python bash tools/gpu_checks.sh run
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
site="$root/.gpu/site"

prepare() {
    local python="$root/.venv/bin/python" version="${GPU_PYTHON_VERSION:-3.12}"
    [ -x "$python" ] || { echo "[gpu_checks] no .venv: run bash tools/setup_env.sh first" >&2; exit 1; }
    local packages
    packages="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    rm -rf "$root/.gpu"
    mkdir -p "$site" "$root/.gpu/wheels"
    for package in detectron2 fvcore iopath yacs termcolor omegaconf antlr4; do
        [ -d "$packages/$package" ] || { echo "[gpu_checks] $package is not in $packages" >&2; exit 1; }
        cp -r "$packages/$package" "$site/"
    done
    find "$site" -name __pycache__ -prune -exec rm -rf {} +
    local pins
    pins="$(grep -E '^(pycocotools|faster-coco-eval)==' requirements.txt)"
    # shellcheck disable=SC2086  # one argument per pin
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version "$version" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$root/.gpu/wheels" $pins
    for wheel in "$root"/.gpu/wheels/*.whl; do
        "$python" -m zipfile -e "$wheel" "$site"
    done
    rm -rf "$root/.gpu/wheels"
    grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
    echo "[gpu_checks] prepared $(du -sh "$root/.gpu" | cut -f1) in .gpu/ for Python $version"
}

# check NAME LIMIT_S COMMAND...: COMMAND's last stdout line to $out/NAME.json, all output to NAME.log
check() {
    local name="$1" limit="$2"
    shift 2
    echo "[gpu_checks] $name (at most $limit s)"
    local started=$SECONDS
    if timeout "$limit" "$@" >"$out/$name.stdout" 2>"$out/$name.log"; then
        tail -n 1 "$out/$name.stdout" >"$out/$name.json"
        cat "$out/$name.json"
    else
        echo "[gpu_checks] $name failed (exit $?); the end of its log:"
        tail -n 20 "$out/$name.log"
    fi
    cat "$out/$name.stdout" >>"$out/$name.log"
    rm -f "$out/$name.stdout"
    echo "[gpu_checks] $name took $((SECONDS - started)) s"
}

run_checks() {
    [ -d "$site" ] || { echo "[gpu_checks] no .gpu/site: run 'bash tools/gpu_checks.sh prepare' here and carry .gpu" >&2; exit 1; }
    local python="${PYTHON:-python3}" device="${DEVICE:-cuda}"
    out="${OUT:-$root/.gpu/out}"
    mkdir -p "$out"
    export PYTHONPATH="$site:$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    local operator=() train_step=() video=(--synthetic-size 600 800 --frames 16 --repeats 2) threads=16
    if [ -n "${QUICK:-}" ]; then
        operator=(--rois 20 --support-frames 3)
        train_step=(--image-size 160 224)
        video=(--synthetic-size 128 160 --frames 3 --support-frames 2 --repeats 1)
        threads=2
    fi
    "$python" - "$device" >"$out/environment.json" <<'EOF'
import json, platform, sys
import torch, torchvision
import troi.compat, detectron2
device = torch.device(sys.argv[1])
print(json.dumps({
    "python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
    "detectron2": detectron2.__version__, "detectron2_compiled_ops": troi.compat.compiled_ops_available(),
    "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
}))
EOF
    cat "$out/environment.json"
    # a GPU lent to one process times steadily: one round each; all three within 9 minutes
    check operator 240 "$python" benchmarks/bench_troi.py --device "$device" --precision bfloat16 \
        --repeats 5 --threads "$threads" "${operator[@]}"
    check train_step 150 "$python" benchmarks/bench_troi.py --mode train_step --device "$device" \
        --repeats 3 --threads "$threads" "${train_step[@]}"
    check video_predictor 150 "$python" benchmarks/bench_video_predictor.py --device "$device" \
        --modes offline --passes cached --breakdown --threads "$threads" "${video[@]}" \
        --config-file configs/imagenet_vid/mmtracking/selsa_troi_r50_dc5.yaml --opts MODEL.WEIGHTS ""
}

case "${1:-}" in
prepare) prepare ;;
run) run_checks ;;
*)
    echo "usage: bash tools/gpu_checks.sh prepare|run" >&2
    exit 2
    ;;
esac
