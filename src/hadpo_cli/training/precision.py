"""Which mixed-precision mode the Trainer runs in, from ``--dtype`` and the device.

* bf16 weights: the Trainer's bf16 autocast. bf16 has fp32's exponent range, so small
  gradients do not underflow and no loss scaling is needed (on a CPU too).
* fp16 weights, on a GPU: the Trainer's fp16 mode, i.e. autocast plus a ``GradScaler``. Without
  the scaler, gradients below fp16's ~6e-8 flush to zero in the frozen fp16 layers they pass
  through on their way to the adapter. The scaler unscales and steps fp32 parameters only;
  peft keeps LoRA weights in fp32 over an fp16 base (``autocast_adapter_dtype``), and
  :func:`check_trainable_fp32` makes sure of it before the run starts.
* fp16 on a CPU: refused. There is no CPU ``GradScaler`` path in the Trainer, and unscaled fp16
  training silently loses its small gradients.
* fp32: no autocast.
"""

from __future__ import annotations

from typing import Any

from hadpo_cli.errors import UserError


def trainer_precision(dtype: Any, use_cpu: bool, *, flag: str = "--dtype fp16") -> dict[str, bool]:
    """``bf16``/``fp16`` keyword arguments for ``TrainingArguments``; ``dtype`` is the torch dtype
    the weights load in (see ``models.loading.resolve_dtype``); ``flag`` is what the user set."""
    name = str(dtype)
    if name == "torch.float16":
        if use_cpu:
            raise UserError(
                f"{flag}: training in fp16 needs a CUDA GPU (loss scaling); on the CPU use "
                "--dtype bf16 or fp32"
            )
        return {"bf16": False, "fp16": True}
    return {"bf16": name == "torch.bfloat16", "fp16": False}


def check_trainable_fp32(model: Any) -> None:
    """The GradScaler refuses fp16 gradients; name the offending weights before training starts."""
    import torch

    low = [n for n, p in model.named_parameters() if p.requires_grad and p.dtype != torch.float32]
    if low:
        raise RuntimeError(
            f"fp16 training needs fp32 trainable weights, but {len(low)} are not (first: {low[0]})"
        )
