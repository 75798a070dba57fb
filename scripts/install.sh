#!/usr/bin/env bash
# Install hadpo and its dev tools into the active Python environment.
#
# A machine with no NVIDIA GPU and no torch yet gets torch==2.13.0 first: on CPU-only
# machines set up like our CI it resolves to a CPU build on local disk, instead of the
# multi-GB CUDA build a bare `torch` requirement would pull. A GPU machine keeps (or gets)
# its own CUDA torch: nothing is forced on it. HADPO_TORCH="torch==X" overrides the choice.
set -euo pipefail
PY="${PYTHON:-python}"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    if [ -n "${HADPO_TORCH:-}" ]; then
        "$PY" -m pip install "$HADPO_TORCH"
    elif ! command -v nvidia-smi >/dev/null 2>&1; then
        "$PY" -m pip install "torch==2.13.0"
    fi
fi
"$PY" -m pip install -e ".[dev]"
