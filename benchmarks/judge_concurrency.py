"""How much --concurrency speeds up the SHR judge: a local judge that takes 100 ms a call.

Starts the package's local OpenAI-compatible judge (``hadpo_cli.testing.local_judge``) on
127.0.0.1 in its own process, as a real judge would be (in this process its threads would
compete with the client for the GIL and the timings would measure that), every reply taking
``--delay`` seconds; writes a synthetic SHR/VG dataset of ``--images`` images, and runs the
whole judging stage (real ``openai`` client, cache writes, outputs) with ``--concurrency 16``
and with ``--concurrency 1``, each into a fresh output dir. Prints one JSON document:

    python benchmarks/judge_concurrency.py            # goal: speedup >= 8
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hadpo_cli.evaluation import shr
from hadpo_cli.settings.eval_shr import EvalShrSettings
from hadpo_cli.testing.local_judge import judge_in_subprocess


def write_dataset(root: Path, n_images: int) -> dict[str, Path]:
    vg, shr_dir = root / "vg", root / "shr"
    vg.mkdir()
    shr_dir.mkdir()
    ids = list(range(1, n_images + 1))
    images = [{"image_id": i, "url": f"http://x/VG_100K/{i}.jpg", "width": 640, "height": 480} for i in ids]
    (vg / "image_data.json").write_text(json.dumps(images))
    regions = [
        {
            "regions": [
                {"image_id": i, "x": 10 * k, "y": 5 * k, "width": 100, "height": 80, "phrase": f"object {k}"}
                for k in range(20)
            ]
        }
        for i in ids
    ]
    (vg / "region_descriptions.json").write_text(json.dumps(regions))
    (shr_dir / "val_images_final.json").write_text(json.dumps([{"image_id": i} for i in ids]))
    (shr_dir / "shr_factual_part1.jsonl").write_text(
        "".join(json.dumps({str(i): ["a fact"]}) + "\n" for i in ids)
    )
    (shr_dir / "shr_factual_part2.jsonl").write_text("")
    responses = root / "responses.json"
    responses.write_text(
        json.dumps(
            {str(i): f"Image {i} shows a table. There is a red cup on it. A window is behind." for i in ids}
        )
    )
    return {"vg": vg, "shr": shr_dir, "responses": responses}


def timed_run(paths: dict[str, Path], out: Path, url: str, concurrency: int) -> tuple[float, int]:
    settings = EvalShrSettings.build(
        {
            "responses": paths["responses"],
            "vg_path": paths["vg"],
            "shr_path": paths["shr"],
            "output_dir": out,
            "base_url": url,
            "api_key": "bench-key",
            "concurrency": concurrency,
        }
    )
    start = time.perf_counter()
    result = shr.run(settings)
    elapsed = time.perf_counter() - start
    if result.status_counts != {"judged": len(json.loads(paths["responses"].read_text()))}:
        raise SystemExit(f"not every image was judged: {result.status_counts}")
    return elapsed, result.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds per judge call")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    with judge_in_subprocess(delay=args.delay) as url, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_dataset(root, args.images)
        # Warm-up outside the timings: importing openai costs ~1 s once per process.
        (root / "warm").mkdir()
        timed_run(write_dataset(root / "warm", 2), root / "out_warm", url, 2)
        fast, fast_requests = timed_run(paths, root / "out_fast", url, args.concurrency)
        slow, slow_requests = timed_run(paths, root / "out_slow", url, 1)
    print(
        json.dumps(
            {
                "images": args.images,
                "judge_delay_s": args.delay,
                "concurrency": args.concurrency,
                "seconds_concurrent": round(fast, 3),
                "seconds_sequential": round(slow, 3),
                "requests": [fast_requests, slow_requests],
                "speedup": round(slow / fast, 2),
                "goal_speedup": 8.0,
                "met": slow / fast >= 8.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
