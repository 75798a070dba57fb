"""How long `hadpo score` takes on one POPE split (3,000 answers), process start included.

Writes POPE-shaped answers and labels to a temporary directory, runs `hadpo score` as a
subprocess a few times, and prints one JSON object. The target is under 2 s wall.

    python benchmarks/score_speed.py [--repeats 5] [--n 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANSWERS = [
    "Yes, there is a dog in the image.",
    "No, there is no dog in the image.",
    "There is not a dog.",
    "NO",
]


def write_split(directory: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """A label file and a shuffled answers file, as a multi-GPU run would write them."""
    rng = random.Random(seed)
    labels = directory / "coco_pope_adversarial.json"
    answers = directory / "answers.jsonl"
    with labels.open("w", encoding="utf-8") as fh:
        for qid in range(1, n + 1):
            row = {
                "question_id": qid,
                "image": f"COCO_val2014_{qid:012d}.jpg",
                "text": "Is there a dog in the image?",
            }
            fh.write(json.dumps({**row, "label": rng.choice(["yes", "no"])}) + "\n")
    rows = [{"question_id": qid, "answer": rng.choice(ANSWERS)} for qid in range(1, n + 1)]
    rng.shuffle(rows)
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return answers, labels


def hadpo_command() -> list[str]:
    """The installed console script when there is one (what users run), else `python -m`."""
    script = Path(sys.executable).with_name("hadpo")
    if script.exists():
        return [str(script)]
    found = shutil.which("hadpo")
    return [found] if found else [sys.executable, "-m", "hadpo_cli"]


def time_once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=3000, help="questions in the split")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        answers, labels = write_split(Path(tmp), args.n)
        command = [*hadpo_command(), "score", str(answers), str(labels), "--json"]
        time_once(command)  # warm the OS file cache and .pyc files; not counted
        seconds = [time_once(command) for _ in range(args.repeats)]
        help_seconds = [time_once([*hadpo_command(), "score", "--help"]) for _ in range(args.repeats)]

    print(
        json.dumps(
            {
                "benchmark": "hadpo score, one POPE split, process start included",
                "questions": args.n,
                "repeats": args.repeats,
                "median_s": round(statistics.median(seconds), 3),
                "min_s": round(min(seconds), 3),
                "max_s": round(max(seconds), 3),
                "score_help_median_s": round(statistics.median(help_seconds), 3),
                "target_s": 2.0,
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
