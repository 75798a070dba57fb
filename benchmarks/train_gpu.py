"""HA-DPO training steps on a 13B-shaped random InstructBLIP in bf16 on one GPU (no download).

Shapes decide speed and memory, so a random model of InstructBLIP-Vicuna-13B's shapes is
built straight on the GPU. It is LoRA-wrapped as `hadpo train` does (r 64 on q/k/v of the
language model), and timed for DPO steps (AdamW on the adapter) in two modes: reference
inline (adapter disabled, same weights) and precomputed reference log-probs.

Reports peak GPU memory, tokens/s and achieved model TFLOP/s, where the FLOPs of a step are
counted as 2 x params x tokens per language-model forward (policy, reference) plus the same
again for the backward pass to the inputs (the frozen weights get no weight gradients).
Goal (issue 3): under 40 GB peak. A smoke run on CPU: `--preset cpu-small --device cpu`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="13b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument(
        "--pairs", type=int, default=1, help="pairs per step (the recipe's per-device batch is 1)"
    )
    ap.add_argument("--prompt-tokens", type=int, default=24)
    ap.add_argument("--answer-tokens", type=int, default=160)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    args = ap.parse_args()

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "train_gpu", "error": "no CUDA device"}))
        sys.exit(1)
    from _dpo_setup import dpo_step_loss, lora_dpo_model, random_pairs

    dev = torch.device(args.device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    t0 = time.perf_counter()
    model, vlm = lora_dpo_model(args.preset, dtype=dtype, device=dev)
    build_s = time.perf_counter() - t0
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=4e-6, weight_decay=0.05)

    cfg = vlm.config
    b, q = args.pairs, cfg.num_query_tokens
    n_text = args.prompt_tokens + args.answer_tokens
    batch = random_pairs(cfg, b, args.prompt_tokens, args.answer_tokens, device=dev, dtype=dtype)

    def step(precomputed: bool) -> None:
        dpo_step_loss(model, batch, precomputed=precomputed).backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    lm_params = sum(p.numel() for n, p in vlm.language_model.named_parameters() if "lora_" not in n)
    tokens = 2 * b * (q + n_text)
    results = {}
    for mode, precomputed in (("inline_reference", False), ("precomputed_reference", True)):
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        for _ in range(args.warmup):
            step(precomputed)
        sync()
        times = []
        for _ in range(args.steps):
            t = time.perf_counter()
            step(precomputed)
            sync()
            times.append(time.perf_counter() - t)
        sec = statistics.median(times)
        passes = 2 if precomputed else 3  # forward + backward-to-inputs, (+ reference forward)
        flops = 2 * lm_params * tokens * passes
        results[mode] = {
            "seconds_per_step": round(sec, 4),
            "tokens_per_s": round(tokens / sec, 1),
            "model_tflops_per_s": round(flops / sec / 1e12, 1),
            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2)
            if dev.type == "cuda"
            else None,
        }
    print(
        json.dumps(
            {
                "benchmark": "train_gpu",
                "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                "preset": args.preset,
                "dtype": str(dtype).replace("torch.", ""),
                "params_total": sum(p.numel() for p in vlm.parameters()),
                "params_trainable": sum(p.numel() for p in trainable),
                "pairs_per_step": b,
                "tokens_per_step": tokens,
                "gradient_checkpointing": args.gradient_checkpointing,
                "build_seconds": round(build_s, 1),
                "results": results,
                "goal_peak_gb": 40,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
