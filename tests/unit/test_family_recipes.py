"""Each family's published decoding reaches the eval settings, unless the user set a value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hadpo_cli.evaluation.eval_model import with_family_decoding
from hadpo_cli.settings.eval_pope import EvalPopeSettings
from hadpo_cli.settings.eval_shr import EvalShrSettings


def _model_dir(tmp_path: Path, model_type: str) -> str:
    # The config alone decides the family: no weights are read.
    path = tmp_path / model_type
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return str(path)


@pytest.mark.parametrize(
    ("model_type", "pope", "shr"),
    [
        # LAVIS' generate for both benchmarks: 5 beams, penalty 1.5; POPE allowed 256 tokens.
        ("instructblip", (5, 256, 1.5), (5, 256, 1.5)),
        # HA-DPO's llava-v1_5 pope_eval.py (greedy, 512) and shr_eval.py (5 beams, 512).
        ("llava", (1, 512, 1.0), (5, 512, 1.0)),
    ],
)
def test_published_decoding_per_family_and_benchmark(tmp_path, model_type, pope, shr):
    model = _model_dir(tmp_path, model_type)
    p = with_family_decoding(
        EvalPopeSettings(model=model, labels=tmp_path / "l.jsonl", coco_path=tmp_path), "pope"
    )
    assert (p.num_beams, p.max_new_tokens, p.repetition_penalty) == pope
    s = with_family_decoding(
        EvalShrSettings(
            model=model, shr_path=tmp_path, output_dir=tmp_path / "o", vg_path=tmp_path, no_judge=True
        ),
        "shr",
    )
    assert (s.num_beams, s.max_new_tokens, s.repetition_penalty) == shr


def test_a_value_the_user_gave_wins(tmp_path):
    model = _model_dir(tmp_path, "instructblip")
    given = EvalPopeSettings(model=model, labels=tmp_path / "l", coco_path=tmp_path, max_new_tokens=16)
    resolved = with_family_decoding(given, "pope")
    assert (resolved.num_beams, resolved.max_new_tokens, resolved.repetition_penalty) == (5, 16, 1.5)


def test_an_unsupported_model_type_names_the_supported_ones(tmp_path):
    from hadpo_cli.errors import UserError

    model = _model_dir(tmp_path, "bert")
    with pytest.raises(
        UserError, match=r"model type 'bert' is not supported \(supported: instructblip, llava\)"
    ):
        with_family_decoding(EvalPopeSettings(model=model, labels=tmp_path / "l", coco_path=tmp_path), "pope")


def test_more_new_tokens_than_the_model_has_positions_is_one_line(tmp_path):
    from hadpo_cli.errors import UserError

    path = tmp_path / "m"
    path.mkdir()
    (path / "config.json").write_text(
        json.dumps(
            {"model_type": "llava", "text_config": {"model_type": "llama", "max_position_embeddings": 512}}
        )
    )
    s = EvalPopeSettings(model=str(path), labels=tmp_path / "l", coco_path=tmp_path, max_new_tokens=600)
    with pytest.raises(UserError, match=r"--max-new-tokens 600: the language model holds 512 positions"):
        with_family_decoding(s, "pope")
    assert with_family_decoding(s.model_copy(update={"max_new_tokens": 16}), "pope").max_new_tokens == 16


def test_a_mistyped_local_model_path_says_so_not_only_couldnt_connect(tmp_path, monkeypatch):
    from hadpo_cli.errors import UserError
    from hadpo_cli.models.loading import read_model_config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        UserError, match=r"--model tiny-modle: no such directory here, and not found as a Hub"
    ):
        read_model_config("tiny-modle")
