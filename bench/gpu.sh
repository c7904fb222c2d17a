#!/usr/bin/env bash
# Every check that needs a CUDA GPU, as one script (the device machine is lent for minutes, not
# hours). Each step runs even when an earlier one fails and writes its output to $OUT (default
# bench/gpu-out/), most important first: the CUDA tests, the augmentation batch benchmark, then the
# training throughput and the whole lesson recipe.
#
# Run: bash bench/gpu.sh            (uses python3, or $PYTHON)
set -u
PY=${PYTHON:-python3}
OUT=${OUT:-bench/gpu-out}
mkdir -p "$OUT"
: >"$OUT/summary.txt"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# The device image has its own torch and no editable install of this project: import it from here.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

step() {  # step NAME TIMEOUT_S CMD...: run, tee to $OUT/NAME.txt, report status and seconds
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    echo "=== $name"
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt" | tail -n 25
    echo "=== $name: exit ${PIPESTATUS[0]} in $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
}

step env 60 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;
    $PY -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__,
    torch.cuda.get_device_name(0), torch.cuda.is_available())'"
step tests_cuda 150 "$PY" -m pytest -q -p no:cacheprovider -k cuda -rA \
    tests/test_augment.py tests/test_augment_module.py tests/test_convolve.py tests/test_models.py \
    tests/test_train.py tests/test_train_capture.py
step bench_augment 100 "$PY" bench/augment.py --iters 15
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of flags
step bench_train 330 "$PY" bench/train.py ${TRAIN_ARGS:-}
tail -n 1 "$OUT/bench_augment.txt" "$OUT/bench_train.txt" 2>/dev/null
cat "$OUT/summary.txt"
