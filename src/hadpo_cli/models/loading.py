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


def weight_errors() -> tuple[type[BaseException], ...]:
    """What ``from_pretrained`` raises for a model directory a user got wrong: a missing or
    unreadable file, a bad config, and a truncated or garbage ``model.safetensors``."""
    from safetensors import SafetensorError

    return (OSError, ValueError, SafetensorError)


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
        if not Path(name).expanduser().exists():
            # Not a directory here, so it was looked up as a Hub id; say both, not only the Hub's
            # "couldn't connect", which hides a mistyped local path.
            raise UserError(
                f"{flag} {name}: no such directory here, and not found as a Hub model id ({first_line(exc)})"
            ) from None
        raise UserError(f"could not load model config from {name!r}: {first_line(exc)}") from None


def family_class(model_id: str | Path) -> type[VLMFamily]:
    """The registered family of ``model_id``, from its config's ``model_type``."""
    from hadpo_cli.models import families

    return families.for_config(read_model_config(model_id), what=str(model_id))


Precision = Literal["uniform", "published"]


def load_vlm(
    model_id: str | Path, *, dtype: str = "auto", device: Any = None, precision: Precision = "uniform"
) -> LoadedVLM:
    """``from_pretrained`` on a Hub id or a local directory, by its family; errors name the model.

    ``precision="published"``: the family's published mixed precision instead of one ``dtype``.
    """
    name = str(model_id)
    cls = family_class(name)
    torch_dtype = resolve_dtype(dtype, device)
    if precision == "published":
        torch_dtype = published_load_dtype(cls)
    try:
        # Straight onto the GPU: loading on the CPU first would put a full copy of the weights
        # in host RAM per process (8 x 28 GB on one 8-GPU node).
        on_gpu = device is not None and str(device).startswith("cuda")
        placement = {"device_map": {"": device}} if on_gpu else {}
        model, processor = cls.load(name, dtype=torch_dtype, placement=placement)
    except weight_errors() as exc:
        raise UserError(f"could not load model {name!r}: {first_line(exc)}") from None
    if precision == "published":
        keep_fp32_exactly(model, name, cls.published_precision["fp32"])  # type: ignore[index]
    family = cls(model, processor)
    family.after_load()
    family.check_tokenizer(name)
    if device is not None:
        model.to(device)
    model.eval()
    return LoadedVLM(model=model, processor=processor, family=family)


def published_load_dtype(cls: type[VLMFamily]) -> Any:
    import torch

    if cls.published_precision is None:
        raise UserError(
            f"--precision published: the {cls.display_name} release ran in one dtype; choose it with --dtype"
        )
    return torch.float16


def keep_fp32_exactly(model: Any, name: str, paths: tuple[str, ...]) -> None:
    """Turn the modules (or parameters) at ``paths`` back to fp32 with the checkpoint's own values.

    The model loaded in fp16 (its fp16 part is most of its size); upcasting alone would keep the
    fp16 rounding, so the fp32 part is read again from the safetensors files, where it is stored
    at the checkpoint's own precision.
    """
    import torch

    stored = checkpoint_tensors(name, paths)
    for path in paths:
        parent, _, attr = path.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        target = getattr(owner, attr)
        if isinstance(target, torch.nn.Parameter):
            exact = stored.get(path)
            target.data = (exact if exact is not None else target.data).to(torch.float32)
            continue
        target.to(torch.float32)
        prefix = f"{path}."
        state = {k[len(prefix) :]: v for k, v in stored.items() if k.startswith(prefix)}
        if state:
            target.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)


def checkpoint_tensors(name: str, prefixes: tuple[str, ...]) -> dict[str, Any]:
    """The tensors whose names start with one of ``prefixes``, from the model's safetensors files
    (a directory's, or the Hub snapshot's)."""
    from safetensors import safe_open

    path = Path(name).expanduser()
    if not path.is_dir():
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(name, allow_patterns=["*.safetensors", "*.json"]))
    out: dict[str, Any] = {}
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as fh:
            for key in fh.keys():
                if any(key == p or key.startswith(f"{p}.") for p in prefixes):
                    out[key] = fh.get_tensor(key)
    return out


def load_vlm_for_eval(
    model_id: str | Path,
    *,
    adapter: str | Path | None = None,
    llm_model: str | Path | None = None,
    dtype: str = "auto",
    device: Any = None,
    precision: Precision = "uniform",
) -> LoadedVLM:
    """The model an evaluation runs: ``--model``, its language model optionally replaced by
    ``--llm-model`` (a merged LLM as ``hadpo merge --llm-only`` writes), then optionally an
    unmerged LoRA ``--adapter`` applied (so merging is optional)."""
    from hadpo_cli.models import adapters

    loaded = load_vlm(model_id, dtype=dtype, device=None, precision=precision)
    if llm_model is not None:
        adapters.replace_language_model(loaded, llm_model)
    if adapter is not None:
        adapters.attach_adapter(loaded, adapter)
    if device is not None:
        loaded.model.to(device)
    loaded.model.eval()
    return loaded
