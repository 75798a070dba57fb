"""``hadpo merge``: fold a LoRA adapter into its base model, check the result, write it atomically.

One copy of the base weights, ever: the base loads once, the adapter's LoRA layers are
injected into it, the reference logits are taken with the adapter active, then the adapter
is merged in place and the same input is run again. Nothing is written until that check
has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hadpo_cli.console import err
from hadpo_cli.errors import UserError, first_line
from hadpo_cli.io import atomic_dir, atomic_write_json, check_writable, refuse_nonempty_dir
from hadpo_cli.models import adapters
from hadpo_cli.models.families.base import VLMFamily
from hadpo_cli.models.loading import weight_errors
from hadpo_cli.settings.merge import MergeSettings

BaseKind = Literal["vlm", "causal_lm"]

# Largest allowed |merged - base+adapter| logit, as a fraction of the largest |logit| (at least 1).
# (W + s·BA)x and Wx + s·B(Ax) round differently; in fp32 that is ~1e-6 of the scale, while bf16
# keeps 8 significant bits, so rounding the merged weight alone moves logits by a few percent.
RELATIVE_TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}
PROBE_PROMPT = "Describe this image in detail."
PROBE_IMAGE_SIZE = 64
SHARD_SIZE = "5GB"  # the Hub's usual shard size; the 13B model is a handful of files, not one 26 GB blob


@dataclass
class LoadedBase:
    """The base as loaded: a VLM with its processor and family, or a causal LM with its tokenizer."""

    kind: BaseKind
    model: Any
    processor: Any  # the family's processor for a VLM, a tokenizer for a causal LM
    family: VLMFamily | None

    def language_model(self) -> Any:
        """The causal LM: the base itself, or the VLM's (sharing its modules)."""
        return self.family.causal_lm() if self.family is not None else self.model

    def tokenizer(self) -> Any:
        return self.family.tokenizer if self.family is not None else self.processor


@dataclass
class Verification:
    max_abs_diff: float
    tolerance: float
    logit_scale: float
    adapter_effect: float  # largest logit change the adapter makes; ~0 means it does nothing
    dtype: str

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "logit_scale": self.logit_scale,
            "adapter_effect": self.adapter_effect,
            "dtype": self.dtype,
        }


def run_merge(settings: MergeSettings) -> dict[str, Any]:
    """Merge ``settings.adapter`` into ``settings.base`` and write ``settings.output``; returns a summary."""
    # Cheap checks first: a wrong path must fail in a second, not after a 13B model has loaded.
    layout = adapters.detect_adapter_layout(settings.adapter)
    refuse_nonempty_dir(settings.output, overwrite=settings.overwrite)  # atomic_dir's refusal, before loading
    check_writable(settings.output, "--output", is_dir=True)
    config = read_base_config(settings.base)
    check_layout_fits(base_kind(settings.base, config), layout, settings)
    err.print(f"[bold]hadpo merge[/]: loading {settings.base}")
    base = load_base(settings.base, config, settings.dtype)
    wrapper = attach(base, layout, settings.adapter)
    verification = merge_in_place(base, wrapper, verify=settings.verify)
    if verification is not None and not verification.passed:
        raise UserError(
            f"{settings.adapter}: merged logits differ from base+adapter logits by {verification.max_abs_diff:.3g} "
            f"(tolerance {verification.tolerance:.3g} for {verification.dtype}); nothing written"
        )
    written: BaseKind = "vlm" if base.kind == "vlm" and not settings.llm_only else "causal_lm"
    summary = {
        "output": str(settings.output),
        "base": settings.base,
        "base_kind": base.kind,
        "adapter": str(settings.adapter),
        "adapter_layout": layout,
        "written": written,
        "dtype": dtype_name(base.language_model()),
        "verification": verification.as_dict() if verification is not None else None,
    }
    write_output(base, written, settings, summary)
    return summary


# -- steps -----------------------------------------------------------------------------------------
def read_base_config(name: str) -> Any:
    """The base's config alone (kilobytes), so that a wrong base fails before gigabytes load."""
    from transformers import AutoConfig

    from hadpo_cli.models.loading import quiet_transformers

    quiet_transformers()
    if name.startswith((".", "/", "~")) and not Path(name).expanduser().is_dir():
        raise UserError(f"{name}: --base model directory not found")
    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise UserError(f"--base {name}: cannot read the model config ({first_line(exc)})") from None


def base_kind(name: str, config: Any) -> BaseKind:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    from hadpo_cli.models import families

    if families.is_vlm_config(config):
        return "vlm"
    if type(config) in MODEL_FOR_CAUSAL_LM_MAPPING:
        return "causal_lm"
    raise UserError(
        f"--base {name}: model type {config.model_type!r} is neither a supported vision-language model "
        f"({', '.join(families.names())}) nor a causal language model"
    )


def load_base(name: str, config: Any, dtype: str) -> LoadedBase:
    """The base model in the requested dtype (``keep``: the checkpoint's own), in eval mode."""
    try:
        if base_kind(name, config) == "vlm":
            base = _load_vlm(name, dtype)
        else:
            base = _load_causal_lm(name, dtype)
    except weight_errors() as exc:
        raise UserError(f"--base {name}: cannot load the model ({first_line(exc)})") from None
    base.model.eval()
    return base


def _load_vlm(name: str, dtype: str) -> LoadedBase:
    from hadpo_cli.models.loading import load_vlm

    # The same loading path as train and eval (an <image>-less checkpoint is fixed up there too).
    loaded = load_vlm(name, dtype=dtype)
    return LoadedBase("vlm", loaded.model, loaded.processor, loaded.family)


def _load_causal_lm(name: str, dtype: str) -> LoadedBase:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hadpo_cli.models.loading import resolve_dtype

    torch_dtype = resolve_dtype(dtype)
    model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype)
    tokenizer = AutoTokenizer.from_pretrained(name)
    return LoadedBase("causal_lm", model, tokenizer, None)


def check_layout_fits(kind: BaseKind, layout: adapters.AdapterLayout, settings: MergeSettings) -> None:
    if kind == "causal_lm" and layout == "vlm":
        raise UserError(
            f"{settings.adapter}: the adapter addresses a whole vision-language model (keys under "
            f"language_model.), but --base {settings.base} is a bare causal LM; give the VLM as --base"
        )


def attach(base: LoadedBase, layout: adapters.AdapterLayout, adapter_dir: Path) -> Any:
    """Inject the adapter into the VLM or its language model (by layout); returns the peft wrapper."""
    target = base.model if layout == "vlm" else base.language_model()
    return adapters.apply_adapter(target, adapter_dir)


def merge_in_place(base: LoadedBase, wrapper: Any, *, verify: bool) -> Verification | None:
    """Merge the adapter into the base weights; with ``verify``, compare logits before and after."""
    if not verify:
        wrapper.merge_and_unload()
        return None
    probe = probe_inputs(base)
    with_adapter = logits(base.model, probe)
    with wrapper.disable_adapter():
        without_adapter = logits(base.model, probe)
    wrapper.merge_and_unload()  # replaces the LoRA layers inside base.model; base.model stays the same object
    merged = logits(base.model, probe)
    return compare(with_adapter, merged, without_adapter, dtype_name(base.language_model()))


def probe_inputs(base: LoadedBase) -> dict[str, Any]:
    """A small fixed input: a synthetic image and a describe-prompt (or the prompt alone for an LLM)."""
    import torch

    if base.family is None:
        return dict(base.processor(PROBE_PROMPT, return_tensors="pt"))
    inputs = base.family.generation_inputs([probe_image()], [PROBE_PROMPT])
    inputs["pixel_values"] = inputs["pixel_values"].to(base.family.image_dtype())
    return {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}


def probe_image() -> Any:
    """A deterministic colour gradient, so the probe does not depend on any file."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 255, PROBE_IMAGE_SIZE, dtype=np.float32)
    pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 255 - ramp[None, :]), axis=-1)
    return Image.fromarray(pixels.astype(np.uint8), mode="RGB")


def logits(model: Any, inputs: dict[str, Any]) -> Any:
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(**{k: v.to(device) for k, v in inputs.items()})
    return out.logits.float().cpu()


def compare(reference: Any, merged: Any, without_adapter: Any, dtype: str) -> Verification:
    scale = float(reference.abs().max())
    return Verification(
        max_abs_diff=float((merged - reference).abs().max()),
        tolerance=RELATIVE_TOLERANCE.get(dtype, RELATIVE_TOLERANCE["bfloat16"]) * max(scale, 1.0),
        logit_scale=scale,
        adapter_effect=float((reference - without_adapter).abs().max()),
        dtype=dtype,
    )


def write_output(
    base: LoadedBase, written: BaseKind, settings: MergeSettings, summary: dict[str, Any]
) -> None:
    """Everything into a temporary sibling, renamed to ``--output`` only once complete."""
    err.print(f"writing {settings.output}")
    with atomic_dir(settings.output, overwrite=settings.overwrite) as tmp:
        if written == "vlm":
            base.model.save_pretrained(tmp, max_shard_size=SHARD_SIZE)
            base.processor.save_pretrained(tmp)
        else:
            base.language_model().save_pretrained(tmp, max_shard_size=SHARD_SIZE)
            base.tokenizer().save_pretrained(tmp)
        atomic_write_json(tmp / "settings.json", settings.public_dict())
        atomic_write_json(tmp / "merge_report.json", summary)


def dtype_name(module: Any) -> str:
    return str(next(module.parameters()).dtype).removeprefix("torch.")
