"""Turn preference pairs into one batch: images once, chosen and rejected stacked for one forward.

Rows are ``[prompt ids with image placeholders][answer ids, EOS][pad]``; only the answer
counts in the log-probs (``answer_mask``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hadpo_cli.data.preference import PreferencePair
from hadpo_cli.models.families.base import VLMFamily


class PairDataset(torch.utils.data.Dataset):
    """Index -> pair. Images are opened by the collator, when a batch needs them."""

    def __init__(self, pairs: Sequence[PreferencePair]):
        self.n = len(pairs)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"index": index}


def answer_budget(max_length: int, n_prompt: int) -> int:
    """How many answer tokens (EOS included) fit after a prompt of ``n_prompt`` ids (its image
    placeholders included); the prompt is never cut."""
    return max_length - n_prompt


def truncate_answer(answer_ids: list[int], budget: int) -> list[int]:
    """Cut the answer to ``budget`` tokens, keeping its final EOS."""
    if len(answer_ids) <= budget:
        return answer_ids
    if budget <= 1:
        return answer_ids[-1:]
    return answer_ids[: budget - 1] + answer_ids[-1:]


@dataclass
class PairCollator:
    family: VLMFamily
    pairs: Sequence[PreferencePair]
    max_length: int = 512
    ref_logps: dict[int, tuple[float, float]] | None = None
    augment: bool = False
    seed: int = 0

    def image_for(self, pair: PreferencePair) -> Any:
        from hadpo_cli.data.augment import crop_flip, pair_rng
        from hadpo_cli.data.images import load_image

        image = load_image(pair.image_path)
        if not self.augment:
            return image
        # One view per pair, the same for its repeats (see data/augment.py).
        return crop_flip(image, pair_rng(self.seed, pair.source, pair.image_id, pair.prompt, pair.chosen))

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        indices = [int(f["index"]) for f in features]
        pairs = [self.pairs[i] for i in indices]
        images = [self.image_for(p) for p in pairs]
        batch: dict[str, torch.Tensor] = dict(self.family.image_inputs(images, [p.prompt for p in pairs]))

        counts = self.family.image_token_counts(batch)
        # Shared by chosen and rejected; the image placeholders sit where the family puts them.
        prompts = [self.family.prompt_ids(p.prompt, n) for p, n in zip(pairs, counts, strict=True)]
        rows: list[tuple[list[int], int]] = []  # (text ids, number of prompt ids)
        for side in ("chosen", "rejected"):
            for p, prompt in zip(pairs, prompts, strict=True):
                answer = truncate_answer(
                    self.family.answer_ids(getattr(p, side)),
                    answer_budget(self.max_length, len(prompt)),
                )
                rows.append((prompt + answer, len(prompt)))
        width = max(len(ids) for ids, _ in rows)
        pad = self.family.tokenizer.pad_token_id or 0
        text_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        answer_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (ids, n_prompt) in enumerate(rows):
            text_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[i, : len(ids)] = 1
            answer_mask[i, n_prompt : len(ids)] = 1
        batch.update(text_ids=text_ids, text_attention_mask=attention, answer_mask=answer_mask)
        batch["index"] = torch.tensor(indices, dtype=torch.long)
        if self.ref_logps is not None:
            ref = torch.tensor([self.ref_logps[i] for i in indices], dtype=torch.float32)
            batch["ref_chosen_logps"], batch["ref_rejected_logps"] = ref[:, 0], ref[:, 1]
        return batch
