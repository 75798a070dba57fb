"""What the DPO-step benchmarks share: a random InstructBLIP of real shapes wrapped exactly as
`hadpo train` wraps it (``apply_lora``, dropout off), a batch of random pairs, and the loss."""

from __future__ import annotations

from typing import Any


def lora_dpo_model(preset: str, *, dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
    """(DPOModel in train mode, the plain VLM inside it), LoRA r 64 / alpha 16 on q/k/v."""
    from hadpo_cli.models.families.instructblip import InstructBlipFamily
    from hadpo_cli.models.shapes import random_instructblip
    from hadpo_cli.settings.train import TrainSettings
    from hadpo_cli.training.dpo_model import DPOModel
    from hadpo_cli.training.run import apply_lora, disable_dropout

    vlm = random_instructblip(preset, dtype=dtype, device=device)
    family = InstructBlipFamily(vlm, processor=None)
    recipe = TrainSettings.model_construct(**InstructBlipFamily.train_recipe)  # the recipe's LoRA defaults
    peft_model = apply_lora(vlm, family, recipe)
    disable_dropout(peft_model)
    return DPOModel(peft_model, family).train(), vlm


def random_pairs(
    config: Any, pairs: int, prompt_tokens: int, answer_tokens: int, *, device: Any = "cpu", dtype: Any = None
) -> dict[str, Any]:
    """A collated batch as `PairCollator` lays it out: rows 0..B-1 chosen, B..2B-1 rejected, each
    ``[image placeholders][prompt][answer]``."""
    import torch

    g = torch.Generator(device="cpu").manual_seed(0)
    size = config.vision_config.image_size
    n_text = prompt_tokens + answer_tokens
    q = config.num_query_tokens
    text = torch.randint(3, config.text_config.vocab_size - 2, (2 * pairs, n_text), generator=g)
    text[text == config.image_token_index] = 3  # placeholders only where the image goes
    batch = {
        "pixel_values": torch.randn(pairs, 3, size, size, generator=g),
        "qformer_input_ids": torch.randint(1, 1000, (pairs, prompt_tokens), generator=g),
        "text_ids": torch.cat([torch.full((2 * pairs, q), config.image_token_index), text], dim=1),
    }
    batch["qformer_attention_mask"] = torch.ones_like(batch["qformer_input_ids"])
    batch["text_attention_mask"] = torch.ones_like(batch["text_ids"])
    batch["answer_mask"] = torch.zeros_like(batch["text_ids"])
    batch["answer_mask"][:, q + prompt_tokens :] = 1
    batch = {k: v.to(device) for k, v in batch.items()}
    if dtype is not None:
        batch["pixel_values"] = batch["pixel_values"].to(dtype)
    return batch


def dpo_step_loss(model: Any, batch: dict[str, Any], *, precomputed: bool) -> Any:
    """The mean DPO loss of one forward; ``precomputed`` passes reference log-probs (zeros)."""
    import torch

    from hadpo_cli.training.dpo_loss import dpo_loss

    n = batch["pixel_values"].shape[0]
    device = batch["text_ids"].device
    extra = (
        {
            "ref_chosen_logps": torch.zeros(n, device=device),
            "ref_rejected_logps": torch.zeros(n, device=device),
        }
        if precomputed
        else {}
    )
    out = model(**batch, **extra)
    keys = ("policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps")
    return dpo_loss(*(out[k] for k in keys)).losses.mean()
