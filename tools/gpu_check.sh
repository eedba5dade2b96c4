#!/usr/bin/env bash
# The GPU checks, in one go, on a machine with an NVIDIA GPU (`make gpu-check` runs it with the venv's
# Python). Every result lands in OUT (default runs/gpu-check):
#   1. benchmarks/bench_search_gpu.py: the paper preset's step times per stage through the loop's own step,
#      projected wall time and peak memory, and the search itself cut short on fake CIFAR-format data;
#   2. the gpu-marked tests (junit XML and the log);
#   3. this GPU's table for the paper preset, with NVML energy and a predictor, checked on whole networks;
#   4. a tiny search under torchrun (one process: the NCCL process group on the GPU).
# RUNTIME (onnxruntime or torch, default: onnxruntime where it has the CUDA provider, else torch) measures the
# table. Each step has its own time limit and the script goes on after a failure; it exits non-zero if any failed.
# Usage: tools/gpu_check.sh [PYTHON] [OUT]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
OUT=${2:-runs/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
failed=()
step() {   # step NAME SECONDS COMMAND...: run, log to OUT/NAME.log, remember a failure
    local name=$1 limit=$2; shift 2
    echo "== $name ($(date -u +%H:%M:%S))"
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "   rc $rc in $((SECONDS - t0)) s"
    tail -n 25 "$OUT/$name.log"
    [ $rc -eq 0 ] || failed+=("$name (rc $rc)")
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv,noheader
  $PY -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| onnxruntime', o.__version__, o.get_available_providers())"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
DEVICE=$($PY -c "from tnd.search.lut_source import default_device as d; print(d())")
RUNTIME=${RUNTIME:-$($PY -c "import onnxruntime as o; print('onnxruntime' if 'CUDAExecutionProvider' in o.get_available_providers() else 'torch')")}
echo "device preset: $DEVICE, table runtime: $RUNTIME"

step bench_search_gpu 240 $PY benchmarks/bench_search_gpu.py --steps 30 --warmup 10 --real-run 40 \
    --json "$OUT/bench_search_gpu.json"
step gpu_tests 300 $PY -m pytest -q -m gpu -rs -p no:cacheprovider --junitxml "$OUT/gpu_tests.xml"
step lut_build 300 $PY tools/build_lut.py --device "$DEVICE" --config cifar10 --runtime "$RUNTIME" --fit-predictor \
    --out "$OUT/$DEVICE.json" --no-progress
step lut_validate 240 $PY -m tnd lut validate "$OUT/$DEVICE.json" --samples 30 --no-progress --out "$OUT/validate"
cat > "$OUT/tiny.yaml" <<'YAML'
name: gpu-torchrun
dataset: digits
channels: 8
stages: [{cells: 2, ops: 4, epochs: 2, warmup_epochs: 1}]
ops: {normal: [none, skip_connect, max_pool_3x3, sep_conv_3x3], reduce: [none, skip_connect, max_pool_3x3, sep_conv_3x3]}
weights: {steps_per_epoch: 8}
reward: {objectives: [acc]}
network: {channels: 8, layers: 5}
YAML
step torchrun_nccl 120 $PY -m torch.distributed.run --standalone --nproc_per_node=1 -m tnd search \
    --config "$OUT/tiny.yaml" --compute cuda --out "$OUT/torchrun" --no-progress
rm -rf "$OUT/torchrun/checkpoint.pt"

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all GPU checks passed"
