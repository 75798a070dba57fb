"""Peak memory of `hadpo train` on CPU vs the bytes of one copy of the weights.

Saves a random ~290M-parameter InstructBLIP (fp32) with the offline tokenizers, runs a few
HA-DPO steps through the real CLI in a child process, and compares the child's peak RSS with
(weights + the baseline RSS of a child that only imports what training imports).
Goal (issue 3): peak < 1.5 x weights + baseline. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = (
    "import torch, transformers, peft, accelerate, PIL\n"
    "import hadpo_cli.training.run, hadpo_cli.training.trainer, hadpo_cli.training.dpo_model\n"
    "import transformers.models.instructblip.modeling_instructblip\n"
)


def peak_rss_of(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak RSS in bytes, seconds) of one child process."""
    start = time.perf_counter()
    # A fresh interpreter that runs the command and reports its own children's peak.
    wrapper = (
        "import resource, subprocess, sys, json\n"
        f"r = subprocess.run({cmd!r}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "if r.returncode: sys.stderr.write(r.stderr[-2000:]); sys.exit(r.returncode)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip()), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="cpu-300m")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()

    from hadpo_cli.data.synthetic import write_demo_data
    from hadpo_cli.models.shapes import save_shaped_model

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weight_bytes = save_shaped_model(args.preset, tmp / "model")
        data = write_demo_data(tmp / "data")
        baseline, _ = peak_rss_of([sys.executable, "-c", BASELINE], env)
        train = [
            sys.executable, "-m", "hadpo_cli", "train", "--model", str(tmp / "model"),
            "--pope-data", str(data.pope_data), "--desc-data", str(data.desc_data), "--vg-path", str(data.vg),
            "--output-dir", str(tmp / "out"), "--max-steps", str(args.steps), "--gradient-accumulation-steps", "1",
            "--logging-steps", "1", "--save-steps", "1000", "--dtype", "fp32",
        ]  # fmt: skip
        peak, seconds = peak_rss_of(train, env)
    result = {
        "benchmark": "train_memory",
        "preset": args.preset,
        "params": int(weight_bytes) // 4,  # fp32
        "device": "cpu",
        "weights_bytes": int(weight_bytes),
        "baseline_rss_bytes": int(baseline),
        "peak_rss_bytes": int(peak),
        "peak_over_baseline_div_weights": round((peak - baseline) / weight_bytes, 3),
        "goal": "< 1.5",
        "meets_goal": (peak - baseline) / weight_bytes < 1.5,
        "seconds": round(seconds, 1),
        "steps": args.steps,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
