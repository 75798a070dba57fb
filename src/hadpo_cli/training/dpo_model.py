"""One module whose forward computes everything a DPO step needs.

Keeping the whole computation inside one ``forward`` lets DDP / accelerate wrap it as usual
(gradient sync hooks fire), while inside we:

* run the image side (vision encoder, Q-Former or projector: the family's) once per pair,
  under ``no_grad``: the image embeddings serve chosen and rejected, policy and reference alike;
* put them wherever the family's image placeholders sit in the text, in whatever number;
* stack chosen and rejected into one language-model forward;
* get the reference from the same weights with the LoRA adapter disabled (no second copy);
* compute logits only at answer positions (:mod:`hadpo_cli.training.logps`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hadpo_cli.models.families.base import VLMFamily
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

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        # Non-reentrant checkpointing works although the LM's inputs (frozen embeddings) need no grad.
        self.family.decoder(self.peft_model).gradient_checkpointing_enable(
            gradient_checkpointing_kwargs=gradient_checkpointing_kwargs or {"use_reentrant": False}
        )

    def image_embeddings(self, batch: dict[str, Any]) -> torch.Tensor:
        """Every image's embedding rows, concatenated in pair order: [sum of n_i, lm_hidden]."""
        with torch.no_grad():
            feats = self.family.image_embeddings(batch, self.peft_model)
        return torch.cat([f.reshape(-1, f.shape[-1]) for f in feats], dim=0).detach()

    def sequence_logps(
        self,
        image_rows: torch.Tensor,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        answer_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed answer log-probs; one forward for all rows.

        ``text_ids`` hold the family's image placeholders; ``image_rows`` replace them in order.
        """
        embeds = self.family.input_embeddings(self.peft_model)(text_ids)
        slots = text_ids == self.family.image_token_id
        if int(slots.sum()) != image_rows.shape[0]:
            raise ValueError(
                f"{int(slots.sum())} image placeholders in the batch but {image_rows.shape[0]} image "
                "embedding rows: the family's prompt_ids and image_token_counts disagree"
            )
        embeds = embeds.masked_scatter(slots.unsqueeze(-1), image_rows.to(embeds.dtype))
        hidden = self.family.decoder(self.peft_model)(
            inputs_embeds=embeds, attention_mask=text_mask, use_cache=False
        ).last_hidden_state
        return gather_answer_logps(hidden, self.family.output_head(self.peft_model), text_ids, answer_mask)

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
        n_pairs = answer_mask.shape[0] // 2
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
        image_rows: torch.Tensor,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        answer_mask: torch.Tensor,
    ) -> torch.Tensor:
        """The same weights with the adapter switched off."""
        with self.peft_model.disable_adapter():
            logps, _ = self.sequence_logps(image_rows, text_ids, text_mask, answer_mask)
        return logps.detach()

    @torch.no_grad()
    def reference_for_batch(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ref chosen, ref rejected) for a collated batch: the precompute pass."""
        img = self.image_embeddings(batch)  # the family reads the image keys it needs
        img2 = torch.cat([img, img], dim=0)
        ref = self.reference_logps(
            img2, batch["text_ids"], batch["text_attention_mask"], batch["answer_mask"]
        )
        n = batch["answer_mask"].shape[0] // 2
        return ref[:n], ref[n:]
