import math

import pytest
import torch

from hadpo_cli.training.dpo_loss import dpo_loss, preference_logits, reward_metrics, sft_nll


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_preference_logits_by_hand():
    # (pi_c - pi_r) - (ref_c - ref_r) = (-10 - -14) - (-11 - -12) = 4 - 1 = 3
    assert preference_logits(t(-10.0), t(-14.0), t(-11.0), t(-12.0)).item() == pytest.approx(3.0)


def test_sigmoid_loss_matches_hand_computation():
    out = dpo_loss(t(-10.0, -5.0), t(-14.0, -4.0), t(-11.0, -5.0), t(-12.0, -5.0), beta=0.1)
    # pair 1: h = 3   -> -log(sigmoid(0.3));  pair 2: h = (-5+4) - 0 = -1 -> -log(sigmoid(-0.1))
    expected = [-math.log(1 / (1 + math.exp(-0.3))), -math.log(1 / (1 + math.exp(0.1)))]
    assert out.losses.tolist() == pytest.approx(expected)
    assert out.chosen_rewards.tolist() == pytest.approx([0.1 * 1.0, 0.0])
    assert out.rejected_rewards.tolist() == pytest.approx([0.1 * -2.0, 0.1 * 1.0])


def test_equal_policy_and_reference_gives_log2():
    out = dpo_loss(t(-3.0), t(-7.0), t(-3.0), t(-7.0), beta=0.5)
    assert out.losses.item() == pytest.approx(math.log(2))


def test_ipo_and_hinge_by_hand():
    args = (t(-10.0), t(-14.0), t(-11.0), t(-12.0))  # h = 3
    assert dpo_loss(*args, beta=0.1, loss_type="ipo").losses.item() == pytest.approx((3 - 5.0) ** 2)
    assert dpo_loss(*args, beta=0.1, loss_type="hinge").losses.item() == pytest.approx(0.7)
    assert dpo_loss(*args, beta=0.5, loss_type="hinge").losses.item() == pytest.approx(0.0)


def test_unknown_loss_type_is_refused():
    with pytest.raises(ValueError):
        dpo_loss(t(0.0), t(0.0), t(0.0), t(0.0), loss_type="nope")  # type: ignore[arg-type]


def test_loss_gradient_pushes_chosen_up_and_rejected_down():
    pc, pr = t(-5.0).requires_grad_(), t(-5.0).requires_grad_()
    dpo_loss(pc, pr, t(-5.0), t(-5.0)).losses.sum().backward()
    assert pc.grad.item() < 0 < pr.grad.item()


def test_sft_nll_is_mean_per_token():
    # -(-6/3 + -2/1) / 2 = 2
    assert sft_nll(t(-6.0, -2.0), torch.tensor([3, 1])).item() == pytest.approx(2.0)


def test_reward_metrics_names_and_values():
    out = dpo_loss(t(-10.0, -5.0), t(-14.0, -4.0), t(-11.0, -5.0), t(-12.0, -5.0), beta=0.1)
    m = reward_metrics(out)
    assert set(m) == {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"}
    assert m["rewards/accuracies"] == pytest.approx(0.5)
    assert m["rewards/margins"] == pytest.approx(((0.1 + 0.2) + (0.0 - 0.1)) / 2)
