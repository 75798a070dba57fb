"""InstructBLIP (vision encoder -> Q-Former -> projection -> Llama/Vicuna) behind :class:`VLMFamily`."""

from __future__ import annotations

from typing import Any

from hadpo_cli.models.family import VLMFamily


class InstructBlipFamily(VLMFamily):
    name = "instructblip"

    def language_model(self, model: Any | None = None) -> Any:
        return _unwrap_peft(model if model is not None else self.model).language_model

    def image_modules(self, model: Any | None = None) -> list[Any]:
        vlm = _unwrap_peft(model if model is not None else self.model)
        return [vlm.vision_model, vlm.qformer, vlm.language_projection]

    def language_model_prefix(self) -> str:
        return "language_model"

    @property
    def num_query_tokens(self) -> int:
        return int(_unwrap_peft(self.model).config.num_query_tokens)

    @property
    def image_token_id(self) -> int:
        return int(_unwrap_peft(self.model).config.image_token_index)

    def pixel_values(self, images: list[Any]) -> Any:
        """[n, 3, H, W] for PIL images; already-processed [3, H, W] tensors are stacked as they are."""
        import torch

        if images and all(isinstance(im, torch.Tensor) for im in images):
            return torch.stack(images)
        return self.processor.image_processor(images, return_tensors="pt")["pixel_values"]

    def image_inputs(self, images: list[Any], prompts: list[str]) -> dict[str, Any]:
        pixel = self.pixel_values(images)
        # InstructBLIP feeds the instruction to the Q-Former too.
        qf = self.processor.qformer_tokenizer(prompts, padding=True, return_tensors="pt")
        return {
            "pixel_values": pixel,
            "qformer_input_ids": qf["input_ids"],
            "qformer_attention_mask": qf["attention_mask"],
        }

    def image_embeddings(self, image_inputs: dict[str, Any], model: Any | None = None) -> Any:
        # ``model``: the module actually running (a replica may not be ``self.model``).
        vlm = _unwrap_peft(model if model is not None else self.model)
        dtype = next(vlm.vision_model.parameters()).dtype
        feats = vlm.get_image_features(
            image_inputs["pixel_values"].to(dtype),
            qformer_input_ids=image_inputs["qformer_input_ids"],
            qformer_attention_mask=image_inputs["qformer_attention_mask"],
            return_dict=True,
        )
        return feats.pooler_output

    def prompt_ids(self, prompt: str) -> list[int]:
        ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        return list(ids)

    def generation_inputs(self, images: list[Any], prompts: list[str]) -> dict[str, Any]:
        """Left padding over the whole sequence: [pad ...][image tokens][BOS prompt].

        The processor would put pads between the image tokens and the text; padding the
        whole row on the left keeps every prompt's last token at the end, so a question's
        answer does not depend on what else is in its batch.
        """
        import torch

        inputs = self.image_inputs(images, prompts)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        rows = [[self.image_token_id] * self.num_query_tokens + self.prompt_ids(p) for p in prompts]
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            attention[i, width - len(row) :] = 1
        inputs["input_ids"] = input_ids
        inputs["attention_mask"] = attention
        return inputs


def _unwrap_peft(model: Any) -> Any:
    """The plain VLM under a peft wrapper (``PeftModel -> LoraModel -> VLM``), or the model itself."""
    base = getattr(model, "base_model", None)
    if base is not None and hasattr(base, "model") and type(model).__name__.startswith("Peft"):
        return base.model
    return model
