"""detect_adapter_layout on hand-written adapter directories (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from hadpo_cli.errors import UserError
from hadpo_cli.models.adapters import detect_adapter_layout, layout_of_key

TRAINED_VLM = [  # what `hadpo train` writes (peft on the whole InstructBLIP)
    "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight",
    "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_B.weight",
]
PUBLISHED_LM = [  # the HA-DPO release: peft on Vicuna alone
    "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
    "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
]


def write_adapter(root: Path, keys: list[str], *, fmt: str = "safetensors", config: object = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    cfg = {"peft_type": "LORA", "r": 2, "target_modules": ["q_proj"]} if config is None else config
    (root / "adapter_config.json").write_text(json.dumps(cfg))
    tensors = {k: torch.zeros(2, 2) for k in keys}
    if fmt == "safetensors":
        save_file(tensors, root / "adapter_model.safetensors")
    elif fmt == "bin":
        torch.save(tensors, root / "adapter_model.bin")
    return root


def test_trained_vlm_adapter(tmp_path: Path) -> None:
    assert detect_adapter_layout(write_adapter(tmp_path / "a", TRAINED_VLM)) == "vlm"


def test_published_causal_lm_adapter(tmp_path: Path) -> None:
    assert detect_adapter_layout(write_adapter(tmp_path / "a", PUBLISHED_LM)) == "causal_lm"


def test_bin_weights_are_read_too(tmp_path: Path) -> None:
    assert detect_adapter_layout(write_adapter(tmp_path / "a", PUBLISHED_LM, fmt="bin")) == "causal_lm"
    assert detect_adapter_layout(write_adapter(tmp_path / "b", TRAINED_VLM, fmt="bin")) == "vlm"


@pytest.mark.parametrize(
    ("key", "layout"),
    [
        ("base_model.model.qformer.encoder.layer.0.attention.attention.query.lora_A.weight", "vlm"),
        ("base_model.model.vision_model.encoder.layers.0.self_attn.qkv.lora_A.weight", "vlm"),
        (
            "base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.weight",
            "vlm",
        ),  # llava-style
        ("base_model.model.lm_head.lora_B.weight", "causal_lm"),
        ("model.layers.3.mlp.down_proj.lora_A.weight", "causal_lm"),  # no peft prefix
        ("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", None),
    ],
)
def test_layout_of_key(key: str, layout: str | None) -> None:
    assert layout_of_key(key) == layout


def test_mixed_keys_are_refused(tmp_path: Path) -> None:
    adapter = write_adapter(tmp_path / "a", TRAINED_VLM + PUBLISHED_LM)
    with pytest.raises(UserError, match="mixes"):
        detect_adapter_layout(adapter)


def test_unknown_keys_are_refused_with_the_key(tmp_path: Path) -> None:
    adapter = write_adapter(tmp_path / "a", ["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"])
    with pytest.raises(UserError, match=r"transformer\.h\.0.*neither"):
        detect_adapter_layout(adapter)


def test_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="adapter directory not found"):
        detect_adapter_layout(tmp_path / "nope")


def test_missing_config(tmp_path: Path) -> None:
    adapter = write_adapter(tmp_path / "a", PUBLISHED_LM)
    (adapter / "adapter_config.json").unlink()
    with pytest.raises(UserError, match="no adapter_config.json"):
        detect_adapter_layout(adapter)


def test_bad_config_json(tmp_path: Path) -> None:
    adapter = write_adapter(tmp_path / "a", PUBLISHED_LM)
    (adapter / "adapter_config.json").write_text("{not json")
    with pytest.raises(UserError, match=r"adapter_config.json:\d+: not valid JSON"):
        detect_adapter_layout(adapter)


def test_missing_weights(tmp_path: Path) -> None:
    adapter = write_adapter(tmp_path / "a", PUBLISHED_LM, fmt="none")
    with pytest.raises(UserError, match="no adapter weights"):
        detect_adapter_layout(adapter)


def test_empty_weights(tmp_path: Path) -> None:
    adapter = write_adapter(tmp_path / "a", [])
    with pytest.raises(UserError, match="holds no tensors"):
        detect_adapter_layout(adapter)


def test_corrupt_weights(tmp_path: Path) -> None:
    adapter = write_adapter(tmp_path / "a", PUBLISHED_LM)
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="cannot read adapter weights"):
        detect_adapter_layout(adapter)
