"""`hadpo demo`'s pairs stage: the base model describes Visual Genome training images, the local
judge (no network, no key) finds its hallucinations against the annotations and rewrites both
sides, and the pairs feed a short `hadpo train`, as a user would run `hadpo pairs` then `hadpo train`."""

from __future__ import annotations

from typing import Any

IMAGES = 12  # images described: enough for a handful of pairs in seconds
TRAIN_STEPS = 4


def demo_stage(ctx: Any) -> dict[str, Any]:
    import json

    from hadpo_cli.demo import DEMO_LORA
    from hadpo_cli.pairs.run import DESC_DATA, POPE_DATA, run
    from hadpo_cli.settings.pairs import PairsSettings
    from hadpo_cli.settings.train import TrainSettings
    from hadpo_cli.testing.local_judge import RULE_JUDGE_MODEL
    from hadpo_cli.training.run import run_train

    out = ctx.stage_dir("pairs")
    shr_images = ctx.data.shr_val_images  # SHR's evaluation images stay out of training data
    settings = PairsSettings.build(
        {"model": str(ctx.model_dir), "vg_path": ctx.data.vg, "output_dir": out, "num_images": IMAGES,
         "exclude_ids": shr_images, "num_beams": 1, "max_new_tokens": ctx.demo_tokens, "rewrites": 1,
         "base_url": ctx.judge_url(), "judge_model": RULE_JUDGE_MODEL, "retry_backoff": 0.1}
    )  # fmt: skip
    result = run(settings, show_progress=False)
    report = result.report
    if result.skipped:
        raise RuntimeError(
            f"the local judge left {result.skipped} image(s) unpaired (see {out / 'judgements.jsonl'})"
        )
    if not json.loads((out / DESC_DATA).read_text()) and not json.loads((out / POPE_DATA).read_text()):
        raise RuntimeError(
            f"the base model's {IMAGES} descriptions gave no pair (see {out / 'judgements.jsonl'})"
        )
    trained = run_train(
        TrainSettings.build(
            {"model": str(ctx.model_dir), "pope_data": out / POPE_DATA, "desc_data": out / DESC_DATA,
             "vg_path": ctx.data.vg, "output_dir": ctx.stage_dir("pairs_train"), **DEMO_LORA, "max_steps": TRAIN_STEPS,
             "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 3e-3,
             "logging_steps": 1, "save_steps": 1000}
        )
    )  # fmt: skip
    judge = report["judge"]
    return {
        "images": report["images"],
        "hallucinated": report["with_hallucination"],
        "pairs": f"{report['desc_pairs']} desc + {report['pope_pairs_hallucinated']} yes/no",
        "requests": judge["requests"],
        "tokens": judge["prompt_tokens"] + judge["completion_tokens"],
        "train steps on them": trained.global_step,
    }
