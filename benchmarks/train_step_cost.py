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
    from _dpo_setup import dpo_step_loss, lora_dpo_model, random_pairs

    torch.manual_seed(0)
    model, vlm = lora_dpo_model(args.preset)
    peft_model = model.peft_model
    cfg = vlm.config
    b, q = args.pairs, cfg.num_query_tokens
    n_text = args.prompt_tokens + args.answer_tokens
    batch = random_pairs(cfg, b, args.prompt_tokens, args.answer_tokens)
    pixel, qf_ids, text_ids = batch["pixel_values"], batch["qformer_input_ids"], batch["text_ids"]
    text_mask, answer_mask = batch["text_attention_mask"], batch["answer_mask"]
    full_ids = text_ids  # the image placeholders lead each row already
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
        dpo_step_loss(model, batch, precomputed=precomputed).backward()

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
                "params": sum(p.numel() for p in vlm.parameters()),
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
