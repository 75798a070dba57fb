"""Cost of one HA-DPO step relative to a plain forward+backward of the same batch (CPU).

Same LoRA-wrapped random InstructBLIP, same pairs (chosen and rejected rows), timings are
medians over repeats after a warm-up:

* ``plain``: the model's own forward on all 2B rows with ``labels`` (full logits, vision
  encoder once per row), then backward: what a plain fine-tuning step costs;
* ``dpo_inline``: our DPO step: vision once per pair, policy forward on chosen+rejected in one
  batch with logits only at answer positions, reference forward with the adapter disabled,
  DPO loss, backward;
* ``dpo_precomputed``: the same with reference log-probs given (no reference forward);
* ``policy_only``: our policy forward+backward alone (a stricter baseline, reported too).

Goals (issue 3): dpo_inline <= 1.6 x plain, dpo_precomputed <= 1.25 x plain. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="cpu-small")
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--answer-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model

    from hadpo_cli.models.instructblip import InstructBlipFamily
    from hadpo_cli.models.shapes import random_instructblip
    from hadpo_cli.training.dpo_loss import dpo_loss
    from hadpo_cli.training.dpo_model import DPOModel

    torch.manual_seed(0)
    vlm = random_instructblip(args.preset)
    for p in vlm.parameters():
        p.requires_grad_(False)
    family = InstructBlipFamily(vlm, processor=None)
    peft_model = get_peft_model(
        vlm,
        LoraConfig(
            r=64, lora_alpha=16, target_modules=family.lora_target_regex(["q_proj", "k_proj", "v_proj"])
        ),
    )
    model = DPOModel(peft_model, family).train()
    cfg = vlm.config
    b, q = args.pairs, cfg.num_query_tokens
    n_text = args.prompt_tokens + args.answer_tokens
    size = cfg.vision_config.image_size
    pixel = torch.randn(b, 3, size, size)
    qf_ids = torch.randint(1, 1000, (b, args.prompt_tokens))
    text_ids = torch.randint(3, cfg.text_config.vocab_size - 2, (2 * b, n_text))
    text_mask = torch.ones_like(text_ids)
    answer_mask = torch.zeros_like(text_ids)
    answer_mask[:, args.prompt_tokens :] = 1
    batch = dict(
        pixel_values=pixel,
        qformer_input_ids=qf_ids,
        qformer_attention_mask=torch.ones_like(qf_ids),
        text_ids=text_ids,
        text_attention_mask=text_mask,
        answer_mask=answer_mask,
    )
    full_ids = torch.cat([torch.full((2 * b, q), cfg.image_token_index), text_ids], dim=1)
    labels = full_ids.clone()
    labels[:, : q + args.prompt_tokens] = -100

    def plain() -> None:
        out = peft_model(
            input_ids=full_ids,
            attention_mask=torch.ones_like(full_ids),
            pixel_values=pixel.repeat(2, 1, 1, 1),
            qformer_input_ids=qf_ids.repeat(2, 1),
            qformer_attention_mask=torch.ones_like(qf_ids).repeat(2, 1),
            labels=labels,
        )
        out.loss.backward()

    def dpo(precomputed: bool) -> None:
        extra = (
            {"ref_chosen_logps": torch.zeros(b), "ref_rejected_logps": torch.zeros(b)} if precomputed else {}
        )
        out = model(**batch, **extra)
        loss = dpo_loss(
            out["policy_chosen_logps"],
            out["policy_rejected_logps"],
            out["ref_chosen_logps"],
            out["ref_rejected_logps"],
        ).losses.mean()
        loss.backward()

    def policy_only() -> None:
        img = model.image_embeddings(batch)
        logps, _ = model.sequence_logps(torch.cat([img, img]), text_ids, text_mask, answer_mask)
        logps.sum().backward()

    def timed(fn) -> float:  # noqa: ANN001
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            peft_model.zero_grad(set_to_none=True)
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    t_plain = timed(plain)
    t_inline = timed(lambda: dpo(False))
    t_pre = timed(lambda: dpo(True))
    t_policy = timed(policy_only)
    print(
        json.dumps(
            {
                "benchmark": "train_step_cost",
                "device": "cpu",
                "threads": torch.get_num_threads(),
                "preset": args.preset,
                "pairs": b,
                "tokens_per_row": q + n_text,
                "seconds": {
                    "plain": round(t_plain, 4),
                    "dpo_inline": round(t_inline, 4),
                    "dpo_precomputed": round(t_pre, 4),
                    "policy_only": round(t_policy, 4),
                },
                "ratio_inline_vs_plain": round(t_inline / t_plain, 3),
                "ratio_precomputed_vs_plain": round(t_pre / t_plain, 3),
                "ratio_inline_vs_policy_only": round(t_inline / t_policy, 3),
                "goals": {"inline": "<= 1.6", "precomputed": "<= 1.25"},
                "meets_goals": t_inline / t_plain <= 1.6 and t_pre / t_plain <= 1.25,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
