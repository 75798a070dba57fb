import torch

from hadpo_cli.training.collator import answer_budget, truncate_answer
from hadpo_cli.training.logps import full_logits_logps, gather_answer_logps


def test_sparse_answer_logps_equal_full_logits_path():
    torch.manual_seed(0)
    n, t, h, v = 4, 9, 16, 50
    hidden = torch.randn(n, t, h, dtype=torch.float64)
    head = torch.nn.Linear(h, v, bias=False).double()
    targets = torch.randint(0, v, (n, t))
    mask = torch.zeros(n, t, dtype=torch.long)
    mask[0, 3:7] = 1
    mask[1, 5:9] = 1
    mask[2, 1:2] = 1  # row 3 has no answer tokens at all
    sums, counts = gather_answer_logps(hidden, head, targets, mask)
    ref_sums, ref_counts = full_logits_logps(head(hidden), targets, mask)
    torch.testing.assert_close(sums, ref_sums)
    assert counts.tolist() == ref_counts.tolist() == [4, 4, 1, 0]
    assert sums[3].item() == 0.0


def test_sparse_path_only_applies_head_to_answer_positions():
    calls = []
    head = torch.nn.Linear(8, 30, bias=False)
    head.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    mask = torch.zeros(2, 100, dtype=torch.long)
    mask[:, 90:] = 1
    gather_answer_logps(torch.randn(2, 100, 8), head, torch.zeros(2, 100, dtype=torch.long), mask)
    assert calls == [torch.Size([20, 8])]  # 2 rows x 10 answer tokens, not 2 x 100


def test_gradients_flow_through_sparse_path():
    hidden = torch.randn(2, 6, 8, requires_grad=True)
    head = torch.nn.Linear(8, 10)
    mask = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 0, 0]])
    sums, _ = gather_answer_logps(hidden, head, torch.randint(0, 10, (2, 6)), mask)
    sums.sum().backward()
    assert hidden.grad[:, -1].abs().sum() == 0  # the last position predicts nothing
    assert hidden.grad[0, 1].abs().sum() > 0


def test_truncate_keeps_eos_and_never_exceeds_budget():
    eos = 2
    answer = [10, 11, 12, 13, eos]
    assert truncate_answer(answer, 10) == answer
    assert truncate_answer(answer, 3) == [10, 11, eos]
    assert truncate_answer(answer, 1) == [eos]
    assert truncate_answer(answer, 0) == [eos]
    assert answer_budget(max_length=20, n_prompt=10) == 10
