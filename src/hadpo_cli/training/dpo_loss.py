"""DPO-family losses as pure tensor functions (unit-tested against hand-computed values).

All inputs are per-pair *summed* answer log-probabilities, as in the HA-DPO recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

LossType = Literal["sigmoid", "ipo", "hinge"]


@dataclass
class DPOOutput:
    losses: torch.Tensor  # [B]
    chosen_rewards: torch.Tensor  # [B], beta * (pi_c - ref_c), detached
    rejected_rewards: torch.Tensor  # [B]


def preference_logits(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
) -> torch.Tensor:
    """``(pi_c - pi_r) - (ref_c - ref_r)``: how much more the policy prefers chosen than the reference does."""
    return (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    *,
    beta: float = 0.1,
    loss_type: LossType = "sigmoid",
) -> DPOOutput:
    """Per-pair losses and implicit rewards.

    * ``sigmoid`` (DPO): ``-logsigmoid(beta * h)``
    * ``ipo``: ``(h - 1 / (2 beta))^2``
    * ``hinge`` (SLiC): ``relu(1 - beta * h)``
    where ``h`` is :func:`preference_logits`.
    """
    h = preference_logits(policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * h)
    elif loss_type == "ipo":
        losses = (h - 1.0 / (2.0 * beta)) ** 2
    elif loss_type == "hinge":
        losses = torch.relu(1.0 - beta * h)
    else:
        raise ValueError(f"unknown loss type {loss_type!r}")
    chosen_rewards = beta * (policy_chosen - ref_chosen).detach()
    rejected_rewards = beta * (policy_rejected - ref_rejected).detach()
    return DPOOutput(losses, chosen_rewards, rejected_rewards)


def sft_nll(policy_chosen: torch.Tensor, chosen_tokens: torch.Tensor) -> torch.Tensor:
    """Mean per-token negative log-likelihood of the chosen answers (the optional SFT term)."""
    return -(policy_chosen / chosen_tokens.clamp(min=1)).mean()


def reward_metrics(out: DPOOutput) -> dict[str, float]:
    """The TRL-named metrics of one batch."""
    c, r = out.chosen_rewards.float(), out.rejected_rewards.float()
    return {
        "rewards/chosen": c.mean().item(),
        "rewards/rejected": r.mean().item(),
        "rewards/accuracies": (c > r).float().mean().item(),
        "rewards/margins": (c - r).mean().item(),
    }
