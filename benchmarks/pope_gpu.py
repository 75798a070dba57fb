"""3,000 POPE-shaped questions, 5 beams, on a 13B-shaped random InstructBLIP in bf16 (no download).

The model has InstructBLIP-Vicuna-13B's shapes (models/shapes.py preset ``13b``: EVA ViT-g/14
39 x 1408 at 224 px, a 12-layer 768-wide Q-Former with 32 queries, Vicuna-13B 40 x 5120,
vocab 32001) and is built straight on the GPU. Questions go through the same generation engine
as `hadpo eval pope` (batching, left padding, part file, gather). Images are 640x480 pictures
held in memory, resized by the real image processor; prompts use the tiny offline tokenizers,
whose words match the POPE template's about one token each, as Llama's do. A random model
rarely says EOS, so every question runs all --max-new-tokens steps: a worst case.

Prints one JSON object (seconds, questions/s, peak memory, card). Goal: under 60 s on one
H100/H200. Without CUDA it says so and exits 1; ``--tiny`` runs a small preset on the CPU to
check the script itself.

    python benchmarks/pope_gpu.py [--questions 3000] [--batch-size 64] [--num-beams 5]
    python benchmarks/pope_gpu.py --tiny
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# COCO names of the kind POPE asks about; two-word ones make the longer prompts.
OBJECTS = [
    "dog", "cat", "person", "car", "dining table", "chair", "bottle", "cup", "bowl", "traffic light",
    "bicycle", "motorcycle", "handbag", "umbrella", "cell phone", "tennis racket", "teddy bear", "knife",
]  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="Small preset on the CPU in fp32 (smoke run).")
    parser.add_argument("--questions", type=int, default=None, help="Default 3000 (8 with --tiny).")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-beams", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--distinct-images", type=int, default=32, help="In-memory images cycled over.")
    return parser.parse_args()


def pope_shaped_requests(n: int, directory: Path) -> list[Any]:
    """Alternating yes/no-style questions, 6 per image, ids 1..n: the POPE file layout."""
    from hadpo_cli.evaluation.generation import GenerationRequest

    requests = []
    for qid in range(1, n + 1):
        image_id = (qid - 1) // 6
        question = f"Is there a {OBJECTS[(qid * 7) % len(OBJECTS)]} in the image?"
        requests.append(
            GenerationRequest(
                key=qid,
                image=directory / f"COCO_val2014_{image_id:012d}.jpg",
                prompt=question,
                fields={"question": question},
            )
        )
    return requests


def in_memory_images(count: int) -> list[Any]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) for _ in range(count)]


def build(preset: str, dtype: Any, device: Any) -> Any:
    """(LoadedVLM, parameter count): the random model with the tiny tokenizers' ids wired in."""
    from hadpo_cli.models.families.instructblip import InstructBlipFamily
    from hadpo_cli.models.loading import LoadedVLM
    from hadpo_cli.models.shapes import random_instructblip_with_processor

    model, processor = random_instructblip_with_processor(preset, dtype=dtype, device=device)
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedVLM(model=model, processor=processor, family=InstructBlipFamily(model, processor)), n_params


def main() -> int:
    args = parse_args()
    import torch

    if not args.tiny and not torch.cuda.is_available():
        print("pope_gpu: no CUDA device here; run it on a GPU machine, or pass --tiny for a CPU smoke run",
              file=sys.stderr)  # fmt: skip
        return 1
    from hadpo_cli.evaluation.generation import GenerationOptions, VLMGenerator, generate_all
    from hadpo_cli.models.loading import quiet_transformers

    quiet_transformers()
    preset, dtype, device = (
        ("cpu-small", torch.float32, "cpu") if args.tiny else ("13b", torch.bfloat16, "cuda")
    )
    n_questions = args.questions or (8 if args.tiny else 3000)

    started = time.perf_counter()
    loaded, n_params = build(preset, dtype, device)
    if device == "cuda":
        torch.cuda.synchronize()
    build_seconds = time.perf_counter() - started

    images = in_memory_images(args.distinct_images)
    options = GenerationOptions(args.num_beams, args.max_new_tokens, args.batch_size)
    generator = VLMGenerator(loaded, options)
    with tempfile.TemporaryDirectory(prefix="pope-gpu-") as tmp:
        requests = pope_shaped_requests(n_questions, Path(tmp))
        paths = list(dict.fromkeys(r.image for r in requests))
        by_path = {path: images[i % len(images)] for i, path in enumerate(paths)}
        # A warm-up batch outside the timing (CUDA context, kernels, allocator at full batch shape).
        warmup = requests[: 2 if args.tiny else args.batch_size]
        generate_all(warmup, Path(tmp) / "warmup.jsonl",
                     load_generator=lambda: generator, options=options, key_field="question_id",
                     image_loader=by_path.__getitem__, show_progress=False)  # fmt: skip
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = generate_all(
            requests,
            Path(tmp) / "answers.jsonl",
            load_generator=lambda: generator,
            options=options,
            key_field="question_id",
            image_loader=by_path.__getitem__,
            show_progress=True,
        )
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        answered = sum(1 for _ in (Path(tmp) / "answers.jsonl").open(encoding="utf-8"))

    print(
        json.dumps(
            {
                "benchmark": "pope_gpu",
                "preset": preset,
                "parameters": n_params,
                "dtype": str(dtype).removeprefix("torch."),
                "card": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                "questions": answered,
                "generated": result.generated,
                "num_beams": args.num_beams,
                "max_new_tokens": args.max_new_tokens,
                "batch_size": args.batch_size,
                "build_seconds": round(build_seconds, 2),
                "seconds": round(seconds, 2),
                "questions_per_second": round(answered / seconds, 2),
                "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
                if device == "cuda"
                else None,
                "goal_seconds": 60,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
