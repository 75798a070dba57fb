"""Random InstructBLIP models of real shapes, for benchmarks (no download: shapes decide speed).

``13b`` is InstructBLIP-Vicuna-13B: EVA ViT-g/14 (39 layers, 1408 wide), a 12-layer Q-Former
with 32 queries, and Vicuna-13B (40 layers, 5120 wide, vocab 32001 with the image token).
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "13b": {
        "vision": dict(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39, num_attention_heads=16,
                       image_size=224, patch_size=14),
        "qformer": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                        encoder_hidden_size=1408, vocab_size=30523),
        "text": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40,
                     num_key_value_heads=40, vocab_size=32001),
        "num_query_tokens": 32,
    },
    # A few hundred million parameters: large enough that weights dominate memory on a CPU.
    "cpu-300m": {
        "vision": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                       image_size=224, patch_size=14),
        "qformer": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=2, num_attention_heads=4,
                        encoder_hidden_size=256, vocab_size=30523),
        "text": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=16, num_attention_heads=16,
                     num_key_value_heads=16, vocab_size=32001),
        "num_query_tokens": 32,
    },
    "cpu-small": {
        "vision": dict(hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                       image_size=224, patch_size=14),
        "qformer": dict(hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                        encoder_hidden_size=128, vocab_size=30523),
        "text": dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=6, num_attention_heads=8,
                     num_key_value_heads=8, vocab_size=32001),
        "num_query_tokens": 32,
    },
}  # fmt: skip


def instructblip_config(preset: str) -> Any:
    from transformers import InstructBlipConfig

    p = PRESETS[preset]
    text = dict(p["text"], model_type="llama", max_position_embeddings=2048, bos_token_id=1, eos_token_id=2,
                pad_token_id=0, tie_word_embeddings=False)  # fmt: skip
    qformer = dict(p["qformer"], max_position_embeddings=512, cross_attention_frequency=2, pad_token_id=0)
    return InstructBlipConfig(
        vision_config=p["vision"],
        qformer_config=qformer,
        text_config=text,
        num_query_tokens=p["num_query_tokens"],
        image_token_index=p["text"]["vocab_size"] - 1,
    )


def random_instructblip(preset: str, *, dtype: Any = None, device: Any = None, seed: int = 0) -> Any:
    """Build the model straight in ``dtype`` on ``device`` (a 13B model never sits in fp32 on the CPU)."""
    import torch
    from transformers import InstructBlipForConditionalGeneration

    config = instructblip_config(preset)
    torch.manual_seed(seed)
    old = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)
    try:
        with torch.device(device or "cpu"):
            model = InstructBlipForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(old)
    return model.eval()


def random_instructblip_with_processor(
    preset: str, *, dtype: Any = None, device: Any = None, seed: int = 0
) -> tuple[Any, Any]:
    """(model, processor): ``preset`` shapes, with the offline tokenizers and the ids wired up."""
    from hadpo_cli.models.families.instructblip import tiny_processor
    from hadpo_cli.models.tiny import use_tokenizer_ids

    model = random_instructblip(preset, dtype=dtype, device=device, seed=seed)
    processor = tiny_processor(model.config.vision_config.image_size, model.config.num_query_tokens)
    use_tokenizer_ids(model, processor.tokenizer)
    return model, processor


def save_shaped_model(preset: str, out_dir: Any, *, seed: int = 0) -> int:
    """Save a random model of ``preset`` shape with the tiny offline tokenizers and a processor,
    so that ``hadpo train --model OUT_DIR`` runs it through the real loading path. Returns the
    weights' bytes."""
    model, processor = random_instructblip_with_processor(preset, seed=seed)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return sum(p.numel() * p.element_size() for p in model.parameters())
