"""Load a vision-language model and its processor from a Hub id or a directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hadpo_cli.errors import UserError, first_line
from hadpo_cli.models.family import VLMFamily

DType = Literal["auto", "bf16", "fp16", "fp32"]
DEFAULT_MODEL = "Salesforce/instructblip-vicuna-13b"


def resolve_dtype(name: str, device: Any = None) -> Any:
    """``auto``: bf16 on a GPU that supports it, fp32 otherwise (CPU); ``keep``: the checkpoint's own."""
    import torch

    if name == "auto":
        on_cuda = torch.cuda.is_available() if device is None else str(device).startswith("cuda")
        if on_cuda and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"keep": "auto", "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def quiet_transformers() -> None:
    """Keep stderr for our own progress; transformers' load bars and backend notes are noise here."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


@dataclass
class LoadedVLM:
    model: Any
    processor: Any
    family: VLMFamily


def family_for(model: Any, processor: Any) -> VLMFamily:
    from hadpo_cli.models.instructblip import InstructBlipFamily

    model_type = getattr(getattr(model, "config", None), "model_type", "")
    if model_type == "instructblip":
        return InstructBlipFamily(model, processor)
    raise UserError(f"model type {model_type!r} is not supported (supported: instructblip)")


def load_vlm(model_id: str | Path, *, dtype: str = "auto", device: Any = None) -> LoadedVLM:
    """``from_pretrained`` on a Hub id or a local directory; errors name the model."""
    from transformers import AutoConfig, InstructBlipForConditionalGeneration, InstructBlipProcessor

    quiet_transformers()
    name = str(model_id)
    if (name.startswith((".", "/", "~")) or Path(name).exists()) and not Path(name).expanduser().is_dir():
        raise UserError(f"{name}: model directory not found")
    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load model config from {name!r}: {first_line(exc)}") from None
    if config.model_type != "instructblip":
        raise UserError(
            f"{name}: model type {config.model_type!r} is not supported (supported: instructblip)"
        )
    torch_dtype = resolve_dtype(dtype, device)
    try:
        # Straight onto the GPU: loading on the CPU first would put a full copy of the weights
        # in host RAM per process (8 x 28 GB on one 8-GPU node).
        on_gpu = device is not None and str(device).startswith("cuda")
        placement = {"device_map": {"": device}} if on_gpu else {}
        model = InstructBlipForConditionalGeneration.from_pretrained(name, dtype=torch_dtype, **placement)
        processor = InstructBlipProcessor.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load model {name!r}: {first_line(exc)}") from None
    ensure_image_token(model, processor)
    if device is not None:
        model.to(device)
    model.eval()
    return LoadedVLM(model=model, processor=processor, family=family_for(model, processor))


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


def load_vlm_for_eval(
    model_id: str | Path,
    *,
    adapter: str | Path | None = None,
    llm_model: str | Path | None = None,
    dtype: str = "auto",
    device: Any = None,
) -> LoadedVLM:
    """The model an evaluation runs: ``--model``, its language model optionally replaced by
    ``--llm-model`` (a merged LLM as ``hadpo merge --llm-only`` writes), then optionally an
    unmerged LoRA ``--adapter`` applied (so merging is optional)."""
    from hadpo_cli.models import adapters

    loaded = load_vlm(model_id, dtype=dtype, device=None)
    if llm_model is not None:
        adapters.replace_language_model(loaded, llm_model)
    if adapter is not None:
        adapters.attach_adapter(loaded, adapter)
    if device is not None:
        loaded.model.to(device)
    loaded.model.eval()
    return loaded
