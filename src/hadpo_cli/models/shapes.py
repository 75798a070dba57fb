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


def save_shaped_model(preset: str, out_dir: Any, *, seed: int = 0) -> Any:
    """Save a random model of ``preset`` shape with the tiny offline tokenizers and a processor,
    so that ``hadpo train --model OUT_DIR`` runs it through the real loading path."""
    from pathlib import Path

    import torch
    from transformers import BlipImageProcessorPil, InstructBlipProcessor

    from hadpo_cli.models.tiny import build_tiny_tokenizers

    llm_tok, qf_tok = build_tiny_tokenizers()
    config = instructblip_config(preset)
    size = config.vision_config.image_size
    processor = InstructBlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": size, "width": size}),
        tokenizer=llm_tok,
        qformer_tokenizer=qf_tok,
        num_query_tokens=config.num_query_tokens,
    )
    config.image_token_index = llm_tok.convert_tokens_to_ids("<image>")
    config.text_config.bos_token_id = llm_tok.bos_token_id
    config.text_config.eos_token_id = llm_tok.eos_token_id
    config.text_config.pad_token_id = llm_tok.pad_token_id
    from transformers import InstructBlipForConditionalGeneration

    torch.manual_seed(seed)
    model = InstructBlipForConditionalGeneration(config).eval()
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    del model
    return n_bytes
