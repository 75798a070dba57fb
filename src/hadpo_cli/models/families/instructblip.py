"""InstructBLIP (vision encoder -> Q-Former -> projection -> Llama/Vicuna), HA-DPO's first recipe.

The release trained InstructBLIP-13B (Vicuna-13B v1.1) in LAVIS: LoRA r 64 / alpha 16 on the
language model's q, k, v projections, 4e-6 cosine, 8 GPUs x 1 pair x 4 accumulation, the POPE
pairs twice for every description pair. Its POPE and SHR evaluations decoded with 5 beams and
LAVIS' repetition penalty of 1.5.
"""

from __future__ import annotations

from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.models.families import register
from hadpo_cli.models.families.base import VLMFamily, stack_or_keep


@register
class InstructBlipFamily(VLMFamily):
    name = "instructblip"
    model_type = "instructblip"
    display_name = "InstructBLIP"
    order = 0
    default_model = "Salesforce/instructblip-vicuna-13b"
    image_reads_prompt = True  # the Q-Former reads the instruction
    # The demo's base model sees 64 px (the toy world's own size), as 8 query tokens: at 32 px a
    # glyph's shape is a few pixels, and a person (red circle) would pass for a dog (red diamond).
    demo_shape = {"image_size": 64, "num_query_tokens": 8}
    train_recipe = {
        "lora_target": ["q_proj", "k_proj", "v_proj"],
        "lora_r": 64,
        "lora_alpha": 16.0,
        "lora_dropout": 0.05,
        "learning_rate": 4e-6,
        "warmup_steps": 0.0,
        "weight_decay": 0.05,
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 4,
        "max_length": 512,
        "pope_repeat": 2,
        "desc_repeat": 1,
        "desc_whitespace": "delete-newlines",
        "desc_prompt_stream": "separate",
        "image_augment": "crop-flip",
    }
    eval_recipe = {
        # LAVIS' generate: 5 beams, repetition penalty 1.5; POPE allowed 256 new tokens.
        "pope": {"num_beams": 5, "max_new_tokens": 256, "repetition_penalty": 1.5},
        "shr": {"num_beams": 5, "max_new_tokens": 256, "repetition_penalty": 1.5},
    }
    # LAVIS: ViT and Vicuna in fp16 (vit_precision="fp16", the LLM loaded in fp16), Q-Former,
    # query tokens and projection in fp32, everything run under fp16 autocast (maybe_autocast).
    published_precision = {
        "fp16": ("vision_model", "language_model"),
        "fp32": ("qformer", "language_projection", "query_tokens"),
    }
    adapter_roots = ("language_model.", "vision_model.", "qformer.", "language_projection.", "query_tokens")

    @classmethod
    def load(cls, name: str, *, dtype: Any, placement: dict[str, Any]) -> tuple[Any, Any]:
        from transformers import InstructBlipForConditionalGeneration, InstructBlipProcessor

        model = InstructBlipForConditionalGeneration.from_pretrained(name, dtype=dtype, **placement)
        return model, InstructBlipProcessor.from_pretrained(name)

    def after_load(self) -> None:
        ensure_image_token(self.model, self.processor)

    # -- modules -------------------------------------------------------------------------------
    def image_modules(self, model: Any | None = None) -> list[Any]:
        vlm = self.vlm(model)
        return [vlm.vision_model, vlm.qformer, vlm.language_projection]

    def causal_lm(self, model: Any | None = None) -> Any:
        return self.vlm(model).language_model

    def set_causal_lm(self, lm: Any | None) -> None:
        self.vlm().language_model = lm

    def decoder(self, model: Any | None = None) -> Any:
        return self.causal_lm(model).get_decoder()

    def output_head(self, model: Any | None = None) -> Any:
        return self.causal_lm(model).get_output_embeddings()

    def language_model_prefix(self) -> str:
        return "language_model"

    # -- text ----------------------------------------------------------------------------------
    @property
    def image_token_id(self) -> int:
        return int(self.vlm().config.image_token_index)

    def nominal_image_tokens(self) -> int:
        return int(self.vlm().config.num_query_tokens)

    def prompt_ids(self, prompt: str, n_image_tokens: int) -> list[int]:
        # LAVIS: [query embeddings][BOS prompt]; the answer follows with no separator.
        ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        return [self.image_token_id] * n_image_tokens + list(ids)

    def eval_prompt_ids(self, question: str, n_image_tokens: int) -> list[int]:
        return self.prompt_ids(question, n_image_tokens)  # the bare question, as LAVIS asked it

    # -- images --------------------------------------------------------------------------------
    def pixel_values(self, images: list[Any]) -> Any:
        return stack_or_keep(
            images, lambda ims: self.processor.image_processor(ims, return_tensors="pt")["pixel_values"]
        )

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
        vlm = self.vlm(model)
        dtype = next(vlm.vision_model.parameters()).dtype
        feats = vlm.get_image_features(
            image_inputs["pixel_values"].to(dtype),
            qformer_input_ids=image_inputs["qformer_input_ids"],
            qformer_attention_mask=image_inputs["qformer_attention_mask"],
            return_dict=True,
        )
        return feats.pooler_output

    def image_token_counts(self, image_inputs: dict[str, Any]) -> list[int]:
        return [self.nominal_image_tokens()] * int(image_inputs["pixel_values"].shape[0])

    # -- the tiny model ------------------------------------------------------------------------
    @classmethod
    def build_tiny(
        cls,
        seed: int = 0,
        *,
        image_size: int = 32,
        num_query_tokens: int = 4,
        text_hidden: int = 64,
        text_layers: int = 2,
        text_intermediate: int = 128,
        text_heads: int = 4,
    ) -> tuple[Any, Any]:
        """A 2-layer random InstructBLIP with a Llama language model, in fp32."""
        import torch
        from transformers import InstructBlipConfig, InstructBlipForConditionalGeneration

        from hadpo_cli.models.tiny import use_tokenizer_ids

        processor = tiny_processor(image_size, num_query_tokens)
        llm_tok, qf_tok = processor.tokenizer, processor.qformer_tokenizer
        config = InstructBlipConfig(
            vision_config={
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "image_size": image_size,
                "patch_size": 8,
                # BLIP's default (1e-10) starts the vision tower at zero: a random tiny model would
                # then see nothing, and no amount of training of the demo's base model would help.
                "initializer_range": 0.02,
            },
            qformer_config={
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "vocab_size": len(qf_tok),
                "encoder_hidden_size": 32,
                "cross_attention_frequency": 1,
                "max_position_embeddings": 128,
                "pad_token_id": qf_tok.pad_token_id,
            },
            # Positions enough for the published 256 new tokens after the prompt.
            text_config=tiny_llama_config(
                llm_tok, text_hidden, text_layers, text_intermediate, text_heads, 1024
            ),
            num_query_tokens=num_query_tokens,
        )
        torch.manual_seed(seed)
        model = InstructBlipForConditionalGeneration(config)
        with torch.no_grad():
            # transformers starts the query tokens at zero; then every query attends evenly to every
            # patch, the Q-Former's output hardly depends on the image, and a tiny model cannot
            # learn to see (the demo's base model must). BLIP-2 drew them from N(0, 0.02).
            model.query_tokens.normal_(0.0, 0.02)
        model.eval()
        use_tokenizer_ids(model, llm_tok)
        return model, processor


def tiny_llama_config(
    tokenizer: Any, hidden: int, layers: int, intermediate: int, heads: int, max_positions: int
) -> dict[str, Any]:
    return {
        "model_type": "llama",
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": max_positions,
        "pad_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": False,
    }


def tiny_processor(image_size: int, num_query_tokens: int) -> Any:
    """An InstructBLIP processor around the offline tokenizers, for a model of any shape."""
    from transformers import BlipImageProcessorPil, InstructBlipProcessor

    from hadpo_cli.models.tiny import build_tiny_tokenizers

    llm_tok, qf_tok = build_tiny_tokenizers()
    # The processor adds the <image> token to the LLM tokenizer itself (see DESIGN pitfalls).
    return InstructBlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": image_size, "width": image_size}),
        tokenizer=llm_tok,
        qformer_tokenizer=qf_tok,
        num_query_tokens=num_query_tokens,
    )


def ensure_image_token(model: Any, processor: Any) -> None:
    """Checkpoints converted before transformers put ``<image>`` placeholders in the text have
    no ``image_token_index``; the processor then adds the token to the tokenizer itself. Point
    the config at that id, growing the embeddings when the id is new to the model."""
    if getattr(model.config, "image_token_index", None) is not None:
        return
    tokenizer = processor.tokenizer
    token = getattr(processor, "image_token", None) or "<image>"
    token_id = tokenizer.convert_tokens_to_ids(getattr(token, "content", token))
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise UserError("the model has no image_token_index and its processor no <image> token")
    if token_id >= model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.config.image_token_index = token_id
