"""LoRA adapters on a loaded VLM: which module an adapter addresses, attaching it, swapping the LLM.

Two adapter layouts exist in practice:

* ``vlm``: peft applied to the whole vision-language model (what ``hadpo train`` writes);
  keys look like ``base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight``.
* ``causal_lm``: peft applied to a bare causal LM (the published HA-DPO adapter, trained on
  Vicuna-13B v1.1); keys look like ``base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight``.

The same weights fit either way; only the module they are applied to differs.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hadpo_cli.errors import UserError, first_line
from hadpo_cli.io import read_json, require_dict

if TYPE_CHECKING:
    from hadpo_cli.models.loading import LoadedVLM

AdapterLayout = Literal["vlm", "causal_lm"]

CONFIG_NAME = "adapter_config.json"
WEIGHT_NAMES = ("adapter_model.safetensors", "adapter_model.bin")
PEFT_PREFIX = "base_model.model."
# A causal LM's top-level submodules; each family declares its VLM's (``adapter_roots``).
CAUSAL_LM_ROOTS = ("model.", "lm_head.")


@functools.cache  # the registry is fixed once loaded; layout_of_key runs once per adapter key
def vlm_roots() -> tuple[str, ...]:
    from hadpo_cli.models.families import families

    return tuple(root for cls in families().values() for root in cls.adapter_roots)


# -- reading an adapter directory ------------------------------------------------------------------
def read_adapter_config(adapter_dir: str | Path) -> dict[str, Any]:
    """``adapter_config.json`` as a dict; a missing dir or file is a :class:`UserError` naming it."""
    path = Path(adapter_dir)
    if not path.is_dir():
        raise UserError(f"{path}: adapter directory not found")
    config_path = path / CONFIG_NAME
    if not config_path.is_file():
        raise UserError(f"{path}: not a peft adapter directory (no {CONFIG_NAME})")
    return require_dict(read_json(config_path), config_path, None)


def adapter_weight_file(adapter_dir: str | Path) -> Path:
    path = Path(adapter_dir)
    for name in WEIGHT_NAMES:
        if (path / name).is_file():
            return path / name
    raise UserError(f"{path}: no adapter weights ({' or '.join(WEIGHT_NAMES)})")


def adapter_keys(adapter_dir: str | Path) -> list[str]:
    """Tensor names in the adapter's weight file, read without loading the tensors where possible."""
    weights = adapter_weight_file(adapter_dir)
    try:
        if weights.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(weights), framework="pt") as fh:
                return list(fh.keys())
        import torch

        state = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # a corrupt file raises whatever its reader raises
        raise UserError(f"{weights}: cannot read adapter weights ({first_line(exc)})") from None
    if not isinstance(state, dict):
        raise UserError(f"{weights}: expected a state dict, got {type(state).__name__}")
    return [str(k) for k in state]


def layout_of_key(key: str) -> AdapterLayout | None:
    """Which kind of model a single peft key addresses; None when it names neither."""
    name = key.removeprefix(PEFT_PREFIX)
    if name.startswith(vlm_roots()):  # before the causal LM's: LLaVA's also start with "model."
        return "vlm"
    if name.startswith(CAUSAL_LM_ROOTS):
        return "causal_lm"
    return None


def detect_adapter_layout(adapter_dir: str | Path) -> AdapterLayout:
    """``vlm`` if the adapter's keys address a whole VLM, ``causal_lm`` if a bare causal LM."""
    read_adapter_config(adapter_dir)
    keys = adapter_keys(adapter_dir)
    if not keys:
        raise UserError(f"{adapter_dir}: the adapter weight file holds no tensors")
    layouts = {key: layout_of_key(key) for key in keys}
    unknown = [k for k, layout in layouts.items() if layout is None]
    if unknown:
        raise UserError(
            f"{adapter_dir}: adapter key {unknown[0]!r} addresses neither a vision-language model "
            "(language_model. ...) nor a causal LM (model.layers. ...)"
        )
    found = set(layouts.values())
    if len(found) > 1:
        raise UserError(f"{adapter_dir}: adapter mixes vision-language-model keys and bare causal-LM keys")
    return found.pop()  # type: ignore[return-value]


# -- attaching -----------------------------------------------------------------------------------
def apply_adapter(module: Any, adapter_dir: str | Path) -> Any:
    """Inject the adapter's LoRA layers into ``module`` in place; returns the peft wrapper.

    The layers live inside ``module`` itself, so anything that holds ``module`` (a VLM holding
    its language model) runs with the adapter; ``wrapper.merge_and_unload()`` folds it in.
    Every weight in the file must land on a module of matching shape: peft by itself only
    warns about leftovers, which would silently evaluate or merge the wrong model.
    """
    from peft import PeftConfig, PeftModel, load_peft_weights, set_peft_model_state_dict

    adapter_dir = Path(adapter_dir)
    read_adapter_config(adapter_dir)
    try:
        config = PeftConfig.from_pretrained(str(adapter_dir))
    except (ValueError, TypeError, OSError) as exc:
        raise UserError(f"{adapter_dir}: not a usable peft adapter config ({first_line(exc)})") from None
    if str(config.peft_type.value if hasattr(config.peft_type, "value") else config.peft_type) != "LORA":
        raise UserError(f"{adapter_dir}: only LoRA adapters are supported (peft_type {config.peft_type})")
    # A task type would make peft build a task wrapper that patches generation hooks on the
    # module; the wrapper is only a handle here, the outer model does the generating.
    config.task_type = None
    config.inference_mode = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers/peft deprecation chatter, not the user's concern
        try:
            wrapper = PeftModel(module, config)
        except ValueError as exc:
            raise UserError(f"{adapter_dir}: adapter does not fit the model: {first_line(exc)}") from None
        weights = load_peft_weights(str(adapter_dir), device="cpu")
        refuse_non_finite(adapter_dir, weights)
        try:
            result = set_peft_model_state_dict(wrapper, weights)
        except RuntimeError as exc:
            raise UserError(
                f"{adapter_dir}: adapter shapes differ from the model's: {_size_mismatch(exc)}"
            ) from None
    check_all_loaded(adapter_dir, result)
    wrapper.eval()
    return wrapper


def refuse_non_finite(adapter_dir: Path, weights: dict[str, Any]) -> None:
    """An adapter of NaNs (a diverged run) would evaluate to empty answers and merge to a broken
    model with a normal-looking table: refuse it."""
    import torch

    bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise UserError(
            f"{adapter_dir}: the adapter holds non-finite weights (NaN or inf in {len(bad)} tensors, "
            f"first: {bad[0]!r}); its training diverged"
        )


def check_all_loaded(adapter_dir: Path, result: Any) -> None:
    """Unused file weights, or LoRA layers left at their initial values, mean a mismatch."""
    if result.unexpected_keys:
        key = result.unexpected_keys[0]
        raise UserError(
            f"{adapter_dir}: {len(result.unexpected_keys)} adapter weights match no module of the model "
            f"(first: {key!r})"
        )
    missing = [k for k in result.missing_keys if ".lora_" in k]
    if missing:
        raise UserError(
            f"{adapter_dir}: the model has {len(missing)} LoRA weights the adapter file lacks "
            f"(first: {missing[0]!r}); it was trained on a different model"
        )


def attach_adapter(loaded: LoadedVLM, adapter_dir: str | Path) -> None:
    """Apply an unmerged adapter to ``loaded``, to the whole VLM or its language model by layout.

    ``loaded.model`` stays the plain VLM (the LoRA layers sit inside it), so
    ``family.generation_inputs`` + ``loaded.model.generate`` work unchanged.
    """
    layout = detect_adapter_layout(adapter_dir)
    apply_adapter(loaded.model if layout == "vlm" else loaded.family.causal_lm(), adapter_dir)


# -- replacing the language model ------------------------------------------------------------------
def replace_language_model(loaded: LoadedVLM, llm_dir: str | Path) -> None:
    """Put the causal LM saved in ``llm_dir`` (``hadpo merge --llm-only``) in place of the VLM's.

    Hidden sizes must match. An LLM with a smaller vocabulary is accepted when the VLM only
    appended tokens to it (InstructBLIP-Vicuna adds pad/``<image>`` to Vicuna's 32000): its
    embeddings are grown and the VLM's rows for the appended tokens copied in, as LAVIS does
    when it loads a merged Vicuna.
    """
    from transformers import AutoModelForCausalLM

    from hadpo_cli.models.loading import weight_errors

    llm_dir = Path(llm_dir)
    llm_config = _causal_lm_config(llm_dir)
    vlm = loaded.model
    text_config = vlm.config.text_config
    _check_sizes(llm_dir, llm_config, text_config)
    old_lm = loaded.family.causal_lm()
    dtype = next(old_lm.parameters()).dtype
    extra_rows = _appended_rows(old_lm, llm_config.vocab_size)
    # Free the old LM before loading the new one: never two copies of a 13B LM at once.
    loaded.family.set_causal_lm(None)
    del old_lm
    try:
        new_lm = AutoModelForCausalLM.from_pretrained(str(llm_dir), dtype=dtype)
    except weight_errors() as exc:
        raise UserError(f"{llm_dir}: cannot load the language model ({first_line(exc)})") from None
    if extra_rows is not None:
        _grow_vocab(new_lm, extra_rows)
    new_lm.eval()
    loaded.family.set_causal_lm(new_lm)


def _causal_lm_config(llm_dir: Path) -> Any:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    if not llm_dir.is_dir():
        raise UserError(f"{llm_dir}: language model directory not found")
    try:
        config = AutoConfig.from_pretrained(str(llm_dir))
    except (OSError, ValueError) as exc:
        raise UserError(f"{llm_dir}: cannot read the model config ({first_line(exc)})") from None
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        raise UserError(f"{llm_dir}: model type {config.model_type!r} is not a causal language model")
    return config


def _check_sizes(llm_dir: Path, llm_config: Any, text_config: Any) -> None:
    if llm_config.hidden_size != text_config.hidden_size:
        raise UserError(
            f"{llm_dir}: hidden size {llm_config.hidden_size} does not match the VLM's language model "
            f"({text_config.hidden_size})"
        )
    if llm_config.vocab_size > text_config.vocab_size:
        raise UserError(
            f"{llm_dir}: vocabulary of {llm_config.vocab_size} tokens is larger than the VLM's "
            f"({text_config.vocab_size})"
        )


def _appended_rows(old_lm: Any, new_vocab: int) -> tuple[Any, Any] | None:
    """(input rows, output rows) of the tokens the VLM has beyond ``new_vocab``; None if none."""
    old_in = old_lm.get_input_embeddings().weight
    if old_in.shape[0] <= new_vocab:
        return None
    old_out = old_lm.get_output_embeddings().weight
    return old_in[new_vocab:].detach().clone(), old_out[new_vocab:].detach().clone()


def _grow_vocab(lm: Any, extra_rows: tuple[Any, Any]) -> None:
    import torch

    rows_in, rows_out = extra_rows
    old_vocab = lm.get_input_embeddings().weight.shape[0]
    lm.resize_token_embeddings(old_vocab + rows_in.shape[0], mean_resizing=False)
    with torch.no_grad():
        lm.get_input_embeddings().weight[old_vocab:] = rows_in.to(lm.get_input_embeddings().weight.dtype)
        out = lm.get_output_embeddings().weight
        if out.data_ptr() != lm.get_input_embeddings().weight.data_ptr():
            out[old_vocab:] = rows_out.to(out.dtype)


# -- messages ------------------------------------------------------------------------------------
def _size_mismatch(exc: BaseException) -> str:
    """The first ``size mismatch for ...`` line of a load_state_dict error, shortened."""
    match = re.search(
        r"size mismatch for ([^:]+): copying a param with shape (.+?) from checkpoint, "
        r"the shape in current model is (.+?)\.?$",
        str(exc),
        flags=re.MULTILINE,
    )
    if not match:
        return first_line(exc)
    key, theirs, ours = match.groups()
    key = key.removeprefix(PEFT_PREFIX).replace(".default.", ".")  # the names as the adapter file spells them
    return f"{key} is {_shape(theirs)} in the adapter but {_shape(ours)} in the model"


def _shape(text: str) -> str:
    return text.removeprefix("torch.Size(").removesuffix(")")
