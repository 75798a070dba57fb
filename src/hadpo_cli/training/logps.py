"""Summed answer log-probabilities with logits computed only at answer positions.

Running the LM head on every position costs memory vocab x sequence length; HA-DPO only
needs the answer tokens, so we take the decoder's hidden states, keep the positions that
predict an answer token, and apply the head to those alone.
"""

from __future__ import annotations

import torch


def gather_answer_logps(
    hidden: torch.Tensor,
    lm_head: torch.nn.Module,
    target_ids: torch.Tensor,
    answer_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row summed log-prob of the tokens where ``answer_mask`` is set, and their count.

    ``hidden[:, t]`` predicts ``target_ids[:, t + 1]``; rows with no answer token get 0.
    """
    predict = answer_mask[:, 1:].bool()
    rows = predict.nonzero(as_tuple=True)[0]
    h = hidden[:, :-1][predict]
    targets = target_ids[:, 1:][predict]
    logits = lm_head(h).float()
    token_logps = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    n = hidden.shape[0]
    sums = torch.zeros(n, dtype=token_logps.dtype, device=token_logps.device).index_add(0, rows, token_logps)
    counts = predict.sum(dim=1)
    return sums, counts


def full_logits_logps(
    logits: torch.Tensor, target_ids: torch.Tensor, answer_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference implementation on full logits (used by tests to check the sparse path)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    tok = logp.gather(-1, target_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    mask = answer_mask[:, 1:].to(tok.dtype)
    return (tok * mask).sum(dim=1), answer_mask[:, 1:].sum(dim=1)
