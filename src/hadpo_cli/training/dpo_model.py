"""One module whose forward computes everything a DPO step needs.

Keeping the whole computation inside one ``forward`` lets DDP / accelerate wrap it as usual
(gradient sync hooks fire), while inside we:

* run the vision encoder and Q-Former once per pair, under ``no_grad``: the image embeddings
  serve chosen and rejected, policy and reference alike;
* stack chosen and rejected into one language-model forward;
* get the reference from the same weights with the LoRA adapter disabled (no second copy);
* compute logits only at answer positions (:mod:`hadpo_cli.training.logps`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hadpo_cli.models.family import VLMFamily
from hadpo_cli.training.logps import gather_answer_logps


class DPOModel(nn.Module):
    def __init__(self, peft_model: nn.Module, family: VLMFamily):
        super().__init__()
        self.peft_model = peft_model
        self.family = family

    def train(self, mode: bool = True) -> DPOModel:
        # The image side is frozen: keep its dropout off, so the image embeddings are the same
        # for policy and reference, in training and in the precompute pass.
        super().train(mode)
        for module in self.family.image_modules(self.peft_model):
            module.eval()
        return self

    @property
    def language_model(self) -> nn.Module:
        return self.family.language_model(self.peft_model)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        # Non-reentrant checkpointing works although the LM's inputs (frozen embeddings) need no grad.
        self.language_model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs=gradient_checkpointing_kwargs or {"use_reentrant": False}
        )

    def image_embeddings(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            return self.family.image_embeddings(batch, self.peft_model).detach()

    def sequence_logps(
        self,
        image_embeds: torch.Tensor,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        answer_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed answer log-probs for rows [image tokens][text]; one forward for all rows."""
        lm = self.language_model
        embed = lm.get_input_embeddings()
        text_embeds = embed(text_ids)
        embeds = torch.cat([image_embeds.to(text_embeds.dtype), text_embeds], dim=1)
        n_img = image_embeds.shape[1]
        ones = text_mask.new_ones((text_mask.shape[0], n_img))
        attention = torch.cat([ones, text_mask], dim=1)
        targets = torch.cat([text_ids.new_zeros((text_ids.shape[0], n_img)), text_ids], dim=1)
        mask = torch.cat([answer_mask.new_zeros((answer_mask.shape[0], n_img)), answer_mask], dim=1)
        hidden = lm.get_decoder()(
            inputs_embeds=embeds, attention_mask=attention, use_cache=False
        ).last_hidden_state
        return gather_answer_logps(hidden, lm.get_output_embeddings(), targets, mask)

    def forward(
        self,
        text_ids: torch.Tensor,
        text_attention_mask: torch.Tensor,
        answer_mask: torch.Tensor,
        ref_chosen_logps: torch.Tensor | None = None,
        ref_rejected_logps: torch.Tensor | None = None,
        index: torch.Tensor | None = None,
        **image_inputs: Any,
    ) -> dict[str, torch.Tensor]:
        img = self.image_embeddings(image_inputs)
        n_pairs = img.shape[0]
        img2 = torch.cat([img, img], dim=0)  # rows: chosen 0..B-1, rejected B..2B-1
        logps, counts = self.sequence_logps(img2, text_ids, text_attention_mask, answer_mask)
        out = {
            "policy_chosen_logps": logps[:n_pairs],
            "policy_rejected_logps": logps[n_pairs:],
            "chosen_tokens": counts[:n_pairs],
            "rejected_tokens": counts[n_pairs:],
        }
        if ref_chosen_logps is None or ref_rejected_logps is None:
            ref = self.reference_logps(img2, text_ids, text_attention_mask, answer_mask)
            out["ref_chosen_logps"], out["ref_rejected_logps"] = ref[:n_pairs], ref[n_pairs:]
        else:
            out["ref_chosen_logps"] = ref_chosen_logps.to(logps.dtype)
            out["ref_rejected_logps"] = ref_rejected_logps.to(logps.dtype)
        return out

    @torch.no_grad()
    def reference_logps(
        self,
        image_embeds: torch.Tensor,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        answer_mask: torch.Tensor,
    ) -> torch.Tensor:
        """The same weights with the adapter switched off."""
        with self.peft_model.disable_adapter():
            logps, _ = self.sequence_logps(image_embeds, text_ids, text_mask, answer_mask)
        return logps.detach()

    @torch.no_grad()
    def reference_for_batch(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ref chosen, ref rejected) for a collated batch: the precompute pass."""
        img = self.image_embeddings(batch)  # the family reads the image keys it needs
        img2 = torch.cat([img, img], dim=0)
        ref = self.reference_logps(
            img2, batch["text_ids"], batch["text_attention_mask"], batch["answer_mask"]
        )
        n = img.shape[0]
        return ref[:n], ref[n:]
