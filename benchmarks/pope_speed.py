"""Seconds per POPE question at --batch-size 1 vs 32 on the tiny model, once it is loaded.

Builds the tiny random InstructBLIP and the synthetic POPE data in a temporary directory,
loads the model once (start-up, reported apart), then answers the same questions through
`hadpo eval pope`'s own code path (evaluation.pope.run -> the generation engine) at each
batch size, with the command's defaults (5 beams, 16 new tokens). Prints one JSON object.
Target: batch 32 at least 4x faster per question than batch 1.

    python benchmarks/pope_speed.py [--questions 64] [--num-beams 5] [--batch-sizes 1,32]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=64, help="Questions answered at each batch size.")
    parser.add_argument("--num-beams", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--family", default="instructblip", help="Registered model family of the tiny model.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]

    started = time.perf_counter()
    import torch

    from hadpo_cli.data.synthetic import write_demo_data
    from hadpo_cli.evaluation.generation import Dist, GenerationOptions, VLMGenerator
    from hadpo_cli.evaluation.pope import run
    from hadpo_cli.models.families import by_name
    from hadpo_cli.models.loading import load_vlm_for_eval
    from hadpo_cli.settings.eval_pope import EvalPopeSettings

    import_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="pope-speed-") as tmp:
        root = Path(tmp)
        model_dir = by_name(args.family).save_tiny(root / "model")
        data = write_demo_data(root / "data", n_images=max(24, args.questions // 2))
        labels = root / "labels.json"
        rows = []
        for split in ("random", "popular", "adversarial"):
            rows += data.pope_labels[split].read_text(encoding="utf-8").splitlines()
        # Unique ids across the splits, so one file holds as many questions as asked.
        picked = [json.loads(line) for line in rows][: args.questions]
        for qid, row in enumerate(picked, start=1):
            row["question_id"] = qid
        labels.write_text("".join(json.dumps(r) + "\n" for r in picked), encoding="utf-8")

        started = time.perf_counter()
        loaded = load_vlm_for_eval(model_dir, dtype="fp32")
        load_seconds = time.perf_counter() - started

        def settings(batch_size: int, output: Path) -> EvalPopeSettings:
            return EvalPopeSettings.build(
                {
                    "model": str(model_dir),
                    "labels": labels,
                    "coco_path": data.coco,
                    "output": output,
                    "num_beams": args.num_beams,
                    "max_new_tokens": args.max_new_tokens,
                    "batch_size": batch_size,
                    "dtype": "fp32",
                }
            )

        def timed(batch_size: int, name: str) -> float:
            options = GenerationOptions(args.num_beams, args.max_new_tokens, batch_size)
            generator = VLMGenerator(loaded, options)
            result = run(
                settings(batch_size, root / name / "answers.jsonl"),
                dist=Dist(),
                load_generator=lambda: generator,
                show_progress=False,
            )
            return result.summary["run"]["generate_seconds"]

        timed(max(sizes), "warmup")  # first-call costs (allocator, kernels) are not batch-size effects
        per_question = {}
        for size in sizes:
            per_question[size] = timed(size, f"bs{size}") / len(picked)

    smallest, largest = min(sizes), max(sizes)
    print(
        json.dumps(
            {
                "benchmark": "pope_speed",
                "model": "tiny random InstructBLIP (fp32, CPU)",
                "questions": len(picked),
                "num_beams": args.num_beams,
                "max_new_tokens": args.max_new_tokens,
                "torch_threads": torch.get_num_threads(),
                "startup": {
                    "import_seconds": round(import_seconds, 3),
                    "model_load_seconds": round(load_seconds, 3),
                },
                "seconds_per_question": {str(k): round(v, 5) for k, v in per_question.items()},
                "questions_per_second": {str(k): round(1 / v, 2) for k, v in per_question.items()},
                f"speedup_{largest}_vs_{smallest}": round(per_question[smallest] / per_question[largest], 2),
                "target_speedup": 4.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
