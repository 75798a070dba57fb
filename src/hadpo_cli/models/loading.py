"""Load a vision-language model and its processor from a Hub id or a directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hadpo_cli.errors import UserError, first_line
from hadpo_cli.models.families.base import VLMFamily

DType = Literal["auto", "bf16", "fp16", "fp32"]
# The published HA-DPO model: the default where no --model is given.
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


def read_model_config(model_id: str | Path, *, flag: str = "--model") -> Any:
    """The model's config alone (kilobytes): enough to pick its family and recipe, so that a wrong
    model fails before gigabytes load."""
    from transformers import AutoConfig

    quiet_transformers()
    name = str(model_id)
    if (name.startswith((".", "/", "~")) or Path(name).exists()) and not Path(name).expanduser().is_dir():
        raise UserError(f"{name}: model directory not found")
    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"could not load model config from {name!r}: {first_line(exc)}") from None


def family_class(model_id: str | Path) -> type[VLMFamily]:
    """The registered family of ``model_id``, from its config's ``model_type``."""
    from hadpo_cli.models import families

    return families.for_config(read_model_config(model_id), what=str(model_id))


def load_vlm(model_id: str | Path, *, dtype: str = "auto", device: Any = None) -> LoadedVLM:
    """``from_pretrained`` on a Hub id or a local directory, by its family; errors name the model."""
    name = str(model_id)
    cls = family_class(name)
    torch_dtype = resolve_dtype(dtype, device)
    try:
        # Straight onto the GPU: loading on the CPU first would put a full copy of the weights
        # in host RAM per process (8 x 28 GB on one 8-GPU node).
        on_gpu = device is not None and str(device).startswith("cuda")
        placement = {"device_map": {"": device}} if on_gpu else {}
        model, processor = cls.load(name, dtype=torch_dtype, placement=placement)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load model {name!r}: {first_line(exc)}") from None
    family = cls(model, processor)
    family.after_load()
    if device is not None:
        model.to(device)
    model.eval()
    return LoadedVLM(model=model, processor=processor, family=family)


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
