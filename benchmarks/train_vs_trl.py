"""hadpo's DPO step against TRL's `DPOTrainer` on the same random LLaVA (CPU, fp32). Prints JSON.

Both sides train the same ~110M-parameter random LLaVA (LLaVA-1.5's image geometry: 336 px,
patch 14, 576 image tokens; a 4-layer CLIP of width 256; an 8-layer Llama of width 768 with a
32k vocabulary), on the same preference pairs and prompts, with LoRA r 8 on the same modules
(every linear layer of the language model), dropout off, the reference as the adapter-off
model, the same pairs per step. Each side runs in its own child process, so each peak RSS is
its own; the parent only builds the model and data and compares.

TRL is a benchmark-only dependency (`pip install trl`), never a runtime one. Goal (issue 9):
hadpo's seconds per step at most 0.6 x TRL's, and its peak memory no higher.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SHAPE = dict(text_hidden=768, text_layers=8, text_intermediate=2048, text_heads=12,
             vision_hidden=256, vision_layers=4, vocab_size=32064)  # fmt: skip


def build(root: Path, n_pairs: int) -> dict[str, Any]:
    from hadpo_cli.data.preference import load_preference_pairs
    from hadpo_cli.data.synthetic import write_demo_data
    from hadpo_cli.models.families.llava import LlavaFamily

    model_dir = LlavaFamily.save_tiny(root / "model", seed=0, **SHAPE)
    data = write_demo_data(root / "data", seed=0)
    everything = load_preference_pairs(data.pope_data, data.desc_data, data.vg, pope_repeat=1)
    # The same pairs for both sides, drawn from the whole mix (short yes/no answers and long
    # descriptions alike): TRL reads them as (image, prompt, chosen, rejected), hadpo as a
    # pope_data.json, whose question field carries any prompt text, descriptions' included.
    pairs = random.Random(0).sample(everything, n_pairs)
    rows = [{"image": str(p.image_path), "prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected}
            for p in pairs]  # fmt: skip
    (root / "pairs.json").write_text(json.dumps(rows))
    hadpo_rows = [{"image_id": p.image_id, "question": p.prompt, "chosen": p.chosen, "rejected": p.rejected,
                   "correct": False} for p in pairs]  # fmt: skip
    (root / "pairs_hadpo.json").write_text(json.dumps(hadpo_rows))
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as fh:
        n_params = sum(_numel(fh.get_slice(k).get_shape()) for k in fh.keys())
    return {"model": str(model_dir), "data": str(root / "data"), "pairs": len(rows), "params": n_params}


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class StepTimer:
    """A TrainerCallback recording wall time per optimizer step."""

    def __new__(cls, times: list[float]):
        from transformers import TrainerCallback

        class Timer(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                self.start = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                times.append(time.perf_counter() - self.start)

        return Timer()


def run_hadpo(root: Path, steps: int, batch: int, precompute: bool) -> dict[str, Any]:
    from hadpo_cli.settings.train import TrainSettings
    from hadpo_cli.training import run as training

    times: list[float] = []
    data = root / "data"
    settings = TrainSettings(
        model=str(root / "model"), pope_data=root / "pairs_hadpo.json", vg_path=data / "vg",
        output_dir=root / f"hadpo-{'pre' if precompute else 'inline'}", max_steps=steps,
        per_device_train_batch_size=batch, gradient_accumulation_steps=1, learning_rate=1e-4,
        lr_scheduler_type="constant", lora_r=8, lora_alpha=16, lora_target=TARGETS, logging_steps=1,
        save_steps=10_000, pope_repeat=1, desc_repeat=1, precompute_ref_logps=precompute,
    )  # fmt: skip
    started = time.perf_counter()
    training.run_train(settings, callbacks=[StepTimer(times)])
    return {"step_seconds": times, "wall_seconds": time.perf_counter() - started}


def run_trl(root: Path, steps: int, batch: int) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from PIL import Image
    from transformers import LlavaForConditionalGeneration, LlavaProcessor
    from trl import DPOConfig, DPOTrainer

    from hadpo_cli.models.families.llava import TRAIN_SYSTEM, conversation, pad_to_square

    model = LlavaForConditionalGeneration.from_pretrained(root / "model", dtype=torch.float32)
    processor = LlavaProcessor.from_pretrained(root / "model")
    rows = json.loads((root / "pairs.json").read_text())
    fill = tuple(int(255 * m) for m in processor.image_processor.image_mean)
    # The same text as hadpo's (its v1 prompt; the answer after "ASSISTANT:"), the same padded image.
    dataset = Dataset.from_list([
        {"images": [pad_to_square(Image.open(r["image"]).convert("RGB"), fill)],
         "prompt": conversation(TRAIN_SYSTEM, r["prompt"]), "chosen": " " + r["chosen"],
         "rejected": " " + r["rejected"]}
        for r in rows
    ])  # fmt: skip
    config = DPOConfig(
        output_dir=str(root / "trl"), max_steps=steps, per_device_train_batch_size=batch,
        gradient_accumulation_steps=1, learning_rate=1e-4, lr_scheduler_type="constant", beta=0.1,
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, bf16=False,
        max_length=None, dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    peft = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=rf".*language_model\..*\.({'|'.join(TARGETS)})$"
    )
    trainer = DPOTrainer(
        model=model, args=config, train_dataset=dataset, processing_class=processor, peft_config=peft
    )
    times: list[float] = []
    trainer.add_callback(StepTimer(times))
    started = time.perf_counter()
    trainer.train()
    return {"step_seconds": times, "wall_seconds": time.perf_counter() - started}


def child(side: str, root: Path, steps: int, batch: int) -> None:
    import torch

    torch.manual_seed(0)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if side == "trl":
        result = run_trl(root, steps, batch)
    else:
        result = run_hadpo(root, steps, batch, precompute=side == "hadpo-precomputed")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["rss_before_mib"] = baseline / 1024
    print("RESULT " + json.dumps(result))


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    after_first = raw["step_seconds"][1:]  # the first step pays for warm-up and lazy init
    return {
        "seconds_per_step": round(statistics.median(after_first), 3),
        "steps_timed": len(after_first),
        "peak_rss_mib": round(raw["peak_rss_mib"], 1),
        "wall_seconds": round(raw["wall_seconds"], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--pairs-per-step", type=int, default=2)
    ap.add_argument("--sides", default="hadpo,hadpo-precomputed,trl")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.root), args.steps, args.pairs_per_step)
        return

    with tempfile.TemporaryDirectory(prefix="hadpo-vs-trl-") as tmp:
        root = Path(tmp)
        info = build(root, n_pairs=args.steps * args.pairs_per_step)
        results: dict[str, Any] = {}
        env = dict(os.environ, HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
        for side in args.sides.split(","):
            cmd = [sys.executable, __file__, "--child", side, "--root", str(root), "--steps", str(args.steps),
                   "--pairs-per-step", str(args.pairs_per_step)]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                results[side] = {"error": proc.stderr[-2000:]}
                continue
            results[side] = summarize(json.loads(line[len("RESULT ") :]))
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(info["model"])
        out: dict[str, Any] = {
            "model": "random LLaVA, 576 image tokens",
            "parameters_millions": round(info["params"] / 1e6, 1),
            "text": {
                k: getattr(config.text_config, k) for k in ("hidden_size", "num_hidden_layers", "vocab_size")
            },
            "vision": {k: getattr(config.vision_config, k) for k in ("hidden_size", "num_hidden_layers")},
            "pairs_per_step": args.pairs_per_step,
            "steps": args.steps,
            "lora": {"r": 8, "targets": TARGETS},
            "results": results,
        }
        ok = {k: v for k, v in results.items() if "error" not in v}
        if "trl" in ok:
            for side in ("hadpo", "hadpo-precomputed"):
                if side in ok:
                    out[f"{side}_step_vs_trl"] = round(
                        ok[side]["seconds_per_step"] / ok["trl"]["seconds_per_step"], 3
                    )
                    out[f"{side}_rss_vs_trl"] = round(ok[side]["peak_rss_mib"] / ok["trl"]["peak_rss_mib"], 3)
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
