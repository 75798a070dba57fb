import pytest
import torch

from hadpo_cli.evaluation.generation import GenerationOptions, NewTokenRepetitionPenalty


def test_only_generated_tokens_are_penalised():
    # rows: prompt of 3 ids, then the tokens generated so far
    input_ids = torch.tensor([[5, 6, 7, 1], [5, 6, 7, 2]])
    scores = torch.tensor(
        [[2.0, 4.0, -2.0, 1.0, 1.0, 3.0, 3.0, 3.0], [2.0, 4.0, -2.0, 1.0, 1.0, 3.0, 3.0, 3.0]]
    )
    out = NewTokenRepetitionPenalty(2.0, prompt_length=3)(input_ids, scores.clone())
    # row 0 generated token 1 (positive score: divided), row 1 token 2 (negative: multiplied)
    assert out[0].tolist() == [2.0, 2.0, -2.0, 1.0, 1.0, 3.0, 3.0, 3.0]
    assert out[1].tolist() == [2.0, 4.0, -4.0, 1.0, 1.0, 3.0, 3.0, 3.0]
    # prompt tokens 5, 6, 7 keep their scores
    assert out[:, 5:].eq(3.0).all()


def test_nothing_generated_yet_changes_nothing():
    scores = torch.randn(2, 10)
    before = scores.clone()
    out = NewTokenRepetitionPenalty(1.5, prompt_length=4)(torch.zeros(2, 4, dtype=torch.long), scores)
    assert torch.equal(out, before) and torch.equal(scores, before)


def test_penalty_must_be_positive():
    with pytest.raises(ValueError):
        NewTokenRepetitionPenalty(0.0, 3)


def test_defaults_follow_the_published_generation():
    o = GenerationOptions()
    assert (o.num_beams, o.repetition_penalty, o.min_new_tokens) == (5, 1.5, 1)
