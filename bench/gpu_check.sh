#!/usr/bin/env bash
# Every command a user runs on a GPU, on tiny settings, one PASS/FAIL line each; the exit
# status is the number of failures (0: all passed). Run from the repository root, on a machine
# with vaekit installed and one or more CUDA GPUs:
#
#     bash bench/gpu_check.sh                 # --device cuda, NCCL across every GPU
#     DEVICE=cpu bash bench/gpu_check.sh      # the same script on the CPU (gloo; no fp16)
#
# Checked: train, eval, sample, anomaly and serve (started, one request, stopped) under
# --device $DEVICE in fp32, bf16 and fp16; fp16's gradient scaler kept in the checkpoint and
# resumed; DDP under torchrun on all the GPUs there are (NCCL; gloo on the CPU); and, where
# the repository's tests are here, tests/cli/test_devices.py on this device (TESTS=0 leaves it
# out). The data is the built-in digits set (no download). PYTHON (default: python) runs
# vaekit and torchrun; VAEKIT (default: "$PYTHON -m vaekit") is the command checked.
set -u

DEVICE="${DEVICE:-cuda}"
PYTHON="${PYTHON:-python}"
VAEKIT="${VAEKIT:-$PYTHON -m vaekit}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vaekit-gpu-check.XXXXXX")"
COUNT=0
TINY=(--data digits --model mlp --hidden-dims 64 --latent-dim 4 --batch-size 64 --quiet
      --no-report)
FAILED=0
export VAEKIT_OFFLINE=1

if [ "$DEVICE" = cuda ]; then
    GPUS="$($PYTHON -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)"
    if [ "${GPUS:-0}" -lt 1 ]; then
        echo "FAIL  no CUDA GPU is visible to torch (set DEVICE=cpu to check the CPU)"
        exit 1
    fi
    PRECISIONS=(fp32 bf16 fp16)
    PROCS="$GPUS"
else
    PRECISIONS=(fp32 bf16)  # fp16 is for CUDA only
    PROCS=2
fi
echo "vaekit GPU check: --device $DEVICE, precisions ${PRECISIONS[*]}, DDP over $PROCS" \
     "processes; logs in $WORK"

# check NAME COMMAND...: run it (output to the log), print PASS or FAIL with the log's tail.
check() {
    local name="$1"
    shift
    COUNT=$((COUNT + 1))
    local log="$WORK/check-$COUNT.log"
    if "$@" >"$log" 2>&1; then
        echo "PASS  $name"
    else
        echo "FAIL  $name (exit $?):"
        tail -n 5 "$log" | sed 's/^/        /'
        FAILED=$((FAILED + 1))
    fi
}

# serve RUNDIR: start `vaekit serve` on a free port, ask for two samples, stop it.
serve() {
    local out="$WORK/serve.out"
    $VAEKIT serve "$1" --port 0 --device "$DEVICE" >"$out" 2>&1 &
    local pid=$!
    local port="" tries=0
    while [ -z "$port" ] && [ $tries -lt 300 ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.2
        tries=$((tries + 1))
        port="$(sed -n 's#.*http://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$out" | head -n 1)"
    done
    local status=1
    if [ -n "$port" ]; then
        $PYTHON - "$port" <<'EOF'
import json
import sys
import urllib.request

request = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/api/sample",
    data=json.dumps({"n": 2}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=60) as answer:
    assert answer.status == 200 and "seed" in json.load(answer)
EOF
        status=$?
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    cat "$out"
    return $status
}

# scaler_kept RUNDIR: fp16's gradient scaler is in the checkpoint, with a positive scale.
scaler_kept() {
    $PYTHON - "$1/checkpoint/state.json" <<'EOF'
import json
import sys

scaler = json.load(open(sys.argv[1]))["scaler"]
print("scaler:", scaler)
assert scaler and scaler["scale"] > 0
EOF
}

for precision in "${PRECISIONS[@]}"; do
    run="$WORK/run-$precision"
    check "train --precision $precision" \
        $VAEKIT train "${TINY[@]}" --epochs 2 --precision "$precision" --device "$DEVICE" \
        --out "$run"
    check "eval ($precision run)" \
        $VAEKIT eval "$run" --iw-samples 16 --max-examples 64 --quiet --device "$DEVICE"
    check "sample ($precision run)" \
        $VAEKIT sample "$run" -n 16 -o "$WORK/samples-$precision.png" --device "$DEVICE"
    check "anomaly ($precision run)" \
        $VAEKIT anomaly "$run" -o "$WORK/scores-$precision.csv" --normal-labels 0 \
        --device "$DEVICE"
    check "serve: start, one request, stop ($precision run)" serve "$run"
    if [ "$precision" = fp16 ]; then
        check "fp16: the gradient scaler is in the checkpoint" scaler_kept "$run"
        check "fp16: resume with the scaler (--epochs 3)" \
            $VAEKIT train --out "$run" --resume --epochs 3 --quiet
        check "fp16: the scaler after the resume" scaler_kept "$run"
    fi
done

if [ "$DEVICE" = cuda ] && ! $PYTHON -c \
    'import sys, torch.distributed as d; sys.exit(not d.is_nccl_available())' 2>/dev/null; then
    echo "FAIL  DDP: this torch has no NCCL"
    FAILED=$((FAILED + 1))
else
    ddp="$WORK/run-ddp"
    check "DDP: torchrun --nproc-per-node $PROCS train (NCCL on GPUs, gloo on CPUs)" \
        $PYTHON -m torch.distributed.run --standalone --nproc-per-node "$PROCS" -m vaekit \
        train "${TINY[@]}" --epochs 2 --device "$DEVICE" --out "$ddp"
    check "DDP: eval of its model" \
        $VAEKIT eval "$ddp" --iw-samples 16 --max-examples 64 --quiet --device "$DEVICE"
fi

if [ "${TESTS:-1}" != 0 ] && [ -f tests/cli/test_devices.py ] && $PYTHON -c 'import pytest' 2>/dev/null; then
    # On a GPU every command's default (auto) is CUDA: the test then checks the tensors of
    # the model's computation against CUDA.
    check "tests/cli/test_devices.py (every command's tensors on the model's device)" \
        $PYTHON -m pytest -q -o addopts="" -p no:cacheprovider tests/cli/test_devices.py
fi

if [ $FAILED -eq 0 ]; then
    echo "all passed"
    rm -rf "$WORK"
else
    echo "$FAILED failed (logs in $WORK)"
fi
exit $FAILED
