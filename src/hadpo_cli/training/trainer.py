"""``transformers.Trainer`` with a DPO ``compute_loss``, TRL-named metrics, and adapter-only saves.

Checkpointing, resume, gradient accumulation, logging integrations and DeepSpeed/FSDP all
come from the Trainer; we only say how a loss is computed and what a "model" file is.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer

from hadpo_cli.errors import UserError
from hadpo_cli.models.adapters import WEIGHT_NAMES, check_all_loaded
from hadpo_cli.training.dpo_loss import dpo_loss, reward_metrics, sft_nll
from hadpo_cli.training.precision import check_trainable_fp32


class HADPOTrainer(Trainer):
    def __init__(self, *args: Any, beta: float, loss_type: str, sft_weight: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.args.fp16:
            check_trainable_fp32(self.model)  # the GradScaler cannot step fp16 weights
        self.beta = beta
        self.loss_type = loss_type
        self.sft_weight = sft_weight
        self._stored: dict[str, list[float]] = defaultdict(list)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
        out = model(**inputs)
        logps = (
            out["policy_chosen_logps"],
            out["policy_rejected_logps"],
            out["ref_chosen_logps"],
            out["ref_rejected_logps"],
        )
        if self.loss_type == "ipo":
            # IPO's target 1/(2 beta) is meant for per-token log-probs (as TRL computes them).
            counts = (out["chosen_tokens"], out["rejected_tokens"]) * 2
            logps = tuple(lp / n.clamp(min=1) for lp, n in zip(logps, counts, strict=True))
        dpo = dpo_loss(*logps, beta=self.beta, loss_type=self.loss_type)  # type: ignore[arg-type]
        loss = dpo.losses.mean()
        check_finite_loss(loss, self.state.global_step + 1, self.args.learning_rate)
        if self.sft_weight > 0:
            nll = sft_nll(out["policy_chosen_logps"], out["chosen_tokens"])
            loss = loss + self.sft_weight * nll
            self._stored["nll_loss"].append(nll.item())
        for key, value in reward_metrics(dpo).items():
            self._stored[key].append(value)
        self._stored["logps/chosen"].append(out["policy_chosen_logps"].detach().float().mean().item())
        self._stored["logps/rejected"].append(out["policy_rejected_logps"].detach().float().mean().item())
        return (loss, out) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Add the DPO metrics averaged over the steps since the last log, and over processes.
        if "loss" in logs and self._stored:
            keys = sorted(self._stored)
            local = torch.tensor(
                [sum(self._stored[k]) / len(self._stored[k]) for k in keys], device=self.args.device
            )
            mean = (
                self.accelerator.reduce(local, reduction="mean")
                if self.accelerator.num_processes > 1
                else local
            )
            logs.update({k: round(float(v), 6) for k, v in zip(keys, mean.tolist(), strict=False)})
            self._stored.clear()
        super().log(logs, start_time)

    def _peft_model(self) -> Any:
        return self.accelerator.unwrap_model(self.model).peft_model

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Write the LoRA adapter in peft format (never the frozen base weights)."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        if state_dict is not None:
            # DeepSpeed / FSDP hand us the gathered state dict of our wrapper module.
            prefix = "peft_model."
            state_dict = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
            if not any("lora_" in k for k in state_dict):
                # e.g. ZeRO-3 without stage3_gather_16bit_weights_on_model_save: an empty adapter
                # written without a word would be worse than stopping here.
                raise RuntimeError(
                    "the gathered state dict holds no LoRA weights; with DeepSpeed ZeRO-3 set "
                    "zero3_save_16bit_model / stage3_gather_16bit_weights_on_model_save to true"
                )
        check_finite_weights(state_dict if state_dict is not None else self._peft_model().state_dict())
        self._peft_model().save_pretrained(output_dir, state_dict=state_dict)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        path = os.path.join(resume_from_checkpoint, WEIGHT_NAMES[0])
        state = load_file(path, device="cpu")
        # The same check as attaching an adapter: unused weights or LoRA layers left unloaded.
        check_all_loaded(Path(resume_from_checkpoint), set_peft_model_state_dict(self._peft_model(), state))


def check_finite_loss(loss: torch.Tensor, step: int, learning_rate: float) -> None:
    """A NaN or infinite loss means the weights (or the inputs) are already broken: stop, with
    one line, rather than train on and save an adapter that answers nothing."""
    if not bool(torch.isfinite(loss.detach()).all()):
        raise UserError(
            f"training stopped at step {step}: the loss is {float(loss.detach().float().mean())} "
            f"(--learning-rate {learning_rate:g} may be too high); nothing more was saved"
        )


def check_finite_weights(state: dict[str, Any]) -> None:
    bad = [k for k, v in state.items() if "lora_" in k and not bool(torch.isfinite(v).all())]
    if bad:
        raise UserError(
            f"the adapter has non-finite weights ({len(bad)} tensors, first: {bad[0]}); not saved"
        )
