#!/usr/bin/env bash
# Every GPU benchmark in one go, for a session that has a GPU for a few minutes.
# Writes one JSON file per benchmark under ${OUT:-gpu-results}/ and prints them.
# Each step has its own time limit so one slow benchmark cannot eat the others' time.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>&1
python -c "import torch; print(torch.__version__, torch.version.cuda)" > "$OUT/torch.txt" 2>&1
timeout 300 python benchmarks/train_gpu.py > "$OUT/train_gpu.json" 2> "$OUT/train_gpu.err"
echo "train_gpu rc=$?"
timeout 240 python benchmarks/pope_gpu.py > "$OUT/pope_gpu.json" 2> "$OUT/pope_gpu.err"
echo "pope_gpu rc=$?"
cat "$OUT"/gpu.csv "$OUT"/torch.txt "$OUT"/*.json
