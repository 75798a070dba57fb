"""LLaVA-1.5 (CLIP ViT-L/14-336 -> MLP projector -> Vicuna), as HA-DPO's LLaVA code trained it.

The release (``ha_dpo/models/llava-v1_5``) trains with the ``v1`` conversation, pads each
image to a square in the processor's mean colour before the 336-px resize, and puts LoRA
(r 128, alpha 256) on every linear layer of the language model. Its ``pope_eval.py`` and
``shr_eval.py`` prompt with the ``llava_v1`` conversation: POPE greedy with up to 512 new
tokens, SHR "Describe this image in detail." with 5 beams. Neither uses a repetition penalty.

transformers' checkpoints (``llava-hf/llava-1.5-7b-hf``) nest the decoder under
``model.language_model`` with ``lm_head`` at the top; their chat template has no system
sentence and no ``</s>`` after the answer, so it is not what the published model was
trained on, and we build the prompt ourselves.
"""

from __future__ import annotations

from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.models.families import register
from hadpo_cli.models.families.base import VLMFamily, stack_or_keep

# The ``v1`` conversation (training) and ``llava_v1`` (evaluation) of LLaVA's conversation.py:
# the same layout, one word different in the system sentence.
TRAIN_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
EVAL_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
IMAGE_TOKEN = "<image>"


def conversation(system: str, question: str) -> str:
    """``{system} USER: <image>\\n{question} ASSISTANT:``; the answer and ``</s>`` follow."""
    return f"{system} USER: {IMAGE_TOKEN}\n{question} ASSISTANT:"


@register
class LlavaFamily(VLMFamily):
    name = "llava"
    model_type = "llava"
    display_name = "LLaVA-1.5"
    order = 1
    default_model = "llava-hf/llava-1.5-7b-hf"
    # The demo's base model sees the toy world's 64 px as 16 patches of 16 px: LLaVA-1.5's 576 tokens
    # of 14 px would make every step of its training 30 times longer on a CPU. Three vision layers:
    # LLaVA reads the second-to-last, and with two that is one layer, too little to tell the glyphs
    # apart (the base model then answered only 62 % of POPE's random split right; 84 % with three).
    demo_shape = {"image_size": 64, "patch_size": 16, "vision_layers": 3}
    train_recipe = {
        "lora_target": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "lora_r": 128,
        "lora_alpha": 256.0,
        "lora_dropout": 0.05,
        "learning_rate": 2e-6,
        # The release's script passes --warmup_steps 0, but its default --warmup_ratio 0.03 wins.
        "warmup_steps": 0.03,
        "weight_decay": 0.0,
        "per_device_train_batch_size": 16,
        "global_batch_size": 128,  # 16 pairs x 8 GPUs
        "max_length": 2048,
        "pope_repeat": 1,
        "desc_repeat": 2,
        "desc_whitespace": "keep",
        "desc_prompt_stream": "shared",
        "image_augment": "none",
    }
    eval_recipe = {
        "pope": {"num_beams": 1, "max_new_tokens": 512, "repetition_penalty": 1.0},
        "shr": {"num_beams": 5, "max_new_tokens": 512, "repetition_penalty": 1.0},
    }
    # transformers 5 nests the decoder; LLaVA's own code (the released adapter) has model.layers.
    adapter_roots = ("model.language_model.", "model.vision_tower.", "model.multi_modal_projector.")

    @classmethod
    def load(cls, name: str, *, dtype: Any, placement: dict[str, Any]) -> tuple[Any, Any]:
        from transformers import LlavaForConditionalGeneration, LlavaProcessor

        model = LlavaForConditionalGeneration.from_pretrained(name, dtype=dtype, **placement)
        return model, LlavaProcessor.from_pretrained(name)

    def after_load(self) -> None:
        token_id = self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            raise UserError(f"the LLaVA tokenizer has no {IMAGE_TOKEN} token")
        if token_id != self.image_token_id:
            raise UserError(
                f"the tokenizer's {IMAGE_TOKEN} is id {token_id} but the model's image_token_index is "
                f"{self.image_token_id}"
            )
        from PIL import Image

        side = int(self.pixel_values([Image.new("RGB", (8, 8))]).shape[-1])
        expected = int(self.vlm().config.vision_config.image_size)
        if side != expected:
            raise UserError(
                f"the image processor makes {side}-pixel images but the vision tower expects {expected}"
            )

    # -- modules -------------------------------------------------------------------------------
    def image_modules(self, model: Any | None = None) -> list[Any]:
        inner = self.vlm(model).model
        return [inner.vision_tower, inner.multi_modal_projector]

    def decoder(self, model: Any | None = None) -> Any:
        return self.vlm(model).model.language_model

    def output_head(self, model: Any | None = None) -> Any:
        return self.vlm(model).lm_head

    def causal_lm(self, model: Any | None = None) -> Any:
        """A ``LlamaForCausalLM`` (or whatever the text config names) around the VLM's own decoder
        and head: no weights are copied, so LoRA put into it is LoRA in the VLM."""
        import torch
        from transformers import AutoModelForCausalLM

        vlm = self.vlm(model)
        with torch.device("meta"):
            lm = AutoModelForCausalLM.from_config(vlm.config.text_config)
        lm.model = vlm.model.language_model
        lm.lm_head = vlm.lm_head
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            setattr(lm.generation_config, name, getattr(vlm.generation_config, name, None))
        lm.eval()
        return lm

    def set_causal_lm(self, lm: Any | None) -> None:
        vlm = self.vlm()
        vlm.model.language_model = lm.model if lm is not None else None
        vlm.lm_head = lm.lm_head if lm is not None else None

    def language_model_prefix(self) -> str:
        return "language_model"

    # -- text ----------------------------------------------------------------------------------
    @property
    def image_token_id(self) -> int:
        return int(self.vlm().config.image_token_id)

    def nominal_image_tokens(self) -> int:
        vision = self.vlm().config.vision_config
        return self._tokens_for(vision.image_size, vision.image_size)

    def _tokens_for(self, height: int, width: int) -> int:
        config = self.vlm().config
        patch = config.vision_config.patch_size
        n = (height // patch) * (width // patch)
        return n + 1 if config.vision_feature_select_strategy == "full" else n  # "default" drops CLS

    def _ids_with_image(self, text: str, n_image_tokens: int) -> list[int]:
        # As LLaVA's tokenizer_image_token: the text around <image> tokenised piece by piece,
        # BOS once at the start, the placeholder repeated once per image feature.
        before, _, after = text.partition(IMAGE_TOKEN)
        head = self.tokenizer(before, add_special_tokens=True)["input_ids"]
        tail = self.tokenizer(after, add_special_tokens=False)["input_ids"]
        return list(head) + [self.image_token_id] * n_image_tokens + list(tail)

    def prompt_ids(self, prompt: str, n_image_tokens: int) -> list[int]:
        return self._ids_with_image(conversation(TRAIN_SYSTEM, prompt), n_image_tokens)

    def eval_prompt_ids(self, question: str, n_image_tokens: int) -> list[int]:
        return self._ids_with_image(conversation(EVAL_SYSTEM, question), n_image_tokens)

    # -- images --------------------------------------------------------------------------------
    def pixel_values(self, images: list[Any]) -> Any:
        image_processor = self.processor.image_processor
        mean = getattr(image_processor, "image_mean", None) or (0.0, 0.0, 0.0)
        fill = tuple(int(255 * m) for m in mean)

        def process(ims: list[Any]) -> Any:
            squares = [pad_to_square(im, fill) for im in ims]
            return image_processor(squares, return_tensors="pt")["pixel_values"]

        return stack_or_keep(images, process)

    def image_embeddings(self, image_inputs: dict[str, Any], model: Any | None = None) -> Any:
        vlm = self.vlm(model)
        dtype = next(vlm.model.vision_tower.parameters()).dtype
        out = vlm.model.get_image_features(
            pixel_values=image_inputs["pixel_values"].to(dtype),
            vision_feature_layer=vlm.config.vision_feature_layer,
            vision_feature_select_strategy=vlm.config.vision_feature_select_strategy,
        )
        return out.pooler_output

    def image_token_counts(self, image_inputs: dict[str, Any]) -> list[int]:
        pixels = image_inputs["pixel_values"]
        return [self._tokens_for(int(pixels.shape[-2]), int(pixels.shape[-1]))] * int(pixels.shape[0])

    # -- the tiny model ------------------------------------------------------------------------
    @classmethod
    def build_tiny(
        cls,
        seed: int = 0,
        *,
        image_size: int = 336,
        patch_size: int = 14,
        text_hidden: int = 64,
        text_layers: int = 2,
        text_intermediate: int = 128,
        text_heads: int = 4,
        vision_hidden: int = 32,
        vision_layers: int = 2,
        vocab_size: int | None = None,
    ) -> tuple[Any, Any]:
        """A random LLaVA with LLaVA-1.5's image geometry (336 px, patch 14: 576 image tokens)
        and, by default, a 2-layer CLIP and Llama of width 32 / 64, in fp32 (``vocab_size``: a
        larger embedding table than the tiny tokenizer needs, for benchmarks of real shape)."""
        import torch
        from transformers import LlavaConfig, LlavaForConditionalGeneration

        from hadpo_cli.models.families.instructblip import tiny_llama_config
        from hadpo_cli.models.tiny import use_tokenizer_ids

        processor = tiny_llava_processor(image_size, patch_size)
        tokenizer = processor.tokenizer
        config = LlavaConfig(
            vision_config={
                "model_type": "clip_vision_model",
                "hidden_size": vision_hidden,
                "intermediate_size": 2 * vision_hidden,
                "num_hidden_layers": vision_layers,
                "num_attention_heads": 4,
                "image_size": image_size,
                "patch_size": patch_size,
                "projection_dim": vision_hidden,
            },
            text_config={
                **tiny_llama_config(tokenizer, text_hidden, text_layers, text_intermediate, text_heads, 4096),
                **({"vocab_size": vocab_size} if vocab_size else {}),
            },
            image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
            vision_feature_layer=-2,
            vision_feature_select_strategy="default",
            image_seq_length=(image_size // patch_size) ** 2,
        )
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
        model.eval()
        use_tokenizer_ids(model, tokenizer)
        return model, processor


def tiny_llava_processor(image_size: int, patch_size: int) -> Any:
    """A ``LlavaProcessor`` around the offline tokenizer, with ``<image>`` added as a special token."""
    from tokenizers import AddedToken
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    from hadpo_cli.models.tiny import build_tiny_tokenizers

    tokenizer, _ = build_tiny_tokenizers()
    tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )


def pad_to_square(image: Any, fill: tuple[int, ...]) -> Any:
    """The image centred on a square canvas of ``fill`` (LLaVA-1.5's ``expand2square``)."""
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), fill if image.mode == "RGB" else fill[0])
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas
