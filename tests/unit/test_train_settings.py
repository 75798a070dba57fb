from pathlib import Path

from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.settings.train import TrainSettings


def _instructblip_recipe(s: TrainSettings) -> TrainSettings:
    from hadpo_cli.models.families import by_name
    from hadpo_cli.settings.train import with_recipe

    return with_recipe(s, by_name("instructblip").train_recipe)


def test_defaults_are_the_published_recipe(tmp_path):
    s = TrainSettings(vg_path=tmp_path, output_dir=tmp_path / "o", pope_data=tmp_path / "p.json")
    s = _instructblip_recipe(s)
    assert (s.learning_rate, s.num_train_epochs, s.per_device_train_batch_size) == (4e-6, 1.0, 1)
    assert (s.gradient_accumulation_steps, s.warmup_steps, s.lr_scheduler_type) == (4, 0, "cosine")
    assert (s.weight_decay, s.max_grad_norm, s.seed, s.logging_steps) == (0.05, 1.0, 42, 4)
    assert (s.lora_r, s.lora_alpha, s.lora_dropout, s.beta) == (64, 16, 0.05, 0.1)
    assert s.lora_target == ["q_proj", "k_proj", "v_proj"]
    assert s.gradient_checkpointing is False and s.report_to == "none"
    assert s.model == "Salesforce/instructblip-vicuna-13b"


def _run(args):
    return CliRunner().invoke(app, ["train", *args])


def test_bad_flag_value_names_the_flag(tmp_path):
    r = _run(["--vg-path", str(tmp_path), "--output-dir", str(tmp_path), "--pope-data", "x", "--beta", "-1"])
    assert r.exit_code == 2
    assert "--beta" in r.output and "Traceback" not in r.output


def test_needs_some_data(tmp_path):
    r = _run(["--vg-path", str(tmp_path), "--output-dir", str(tmp_path)])
    assert r.exit_code == 2 and "--pope-data" in r.output


def test_config_file_supplies_values_and_flags_win(tmp_path, monkeypatch):
    seen = {}

    def fake_run(settings):
        seen["s"] = settings
        raise SystemExit(0)

    monkeypatch.setattr("hadpo_cli.training.run.run_train", fake_run)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "learning-rate: 1.0e-5\nbeta: 0.3\nvg_path: /data/vg\noutput-dir: out\npope-data: p.json\n"
    )
    _run(["--config", str(cfg), "--beta", "0.2"])
    s = seen["s"]
    assert s.learning_rate == 1e-5 and s.beta == 0.2 and s.vg_path == Path("/data/vg")


def test_config_unknown_key_and_bad_yaml(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learning_rte: 1\n")
    r = _run(["--config", str(cfg), "--vg-path", "x", "--output-dir", "o", "--pope-data", "p"])
    assert r.exit_code == 2 and "learning_rte" in r.output and str(cfg) in r.output
    cfg.write_text("a: [1,\n")
    r = _run(["--config", str(cfg)])
    assert r.exit_code == 2 and "not valid YAML" in r.output


def test_settings_json_is_plain_data(tmp_path):
    s = TrainSettings(vg_path=tmp_path, output_dir=tmp_path / "o", desc_data=tmp_path / "d.json")
    d = s.public_dict()
    assert d["vg_path"] == str(tmp_path) and d["pope_data"] is None


def test_global_batch_size_sets_accumulation(tmp_path):
    import pytest

    from hadpo_cli.errors import UserError
    from hadpo_cli.training.run import resolve_accumulation

    base = dict(vg_path=tmp_path, output_dir=tmp_path / "o", pope_data=tmp_path / "p.json")
    s = _instructblip_recipe(TrainSettings(**base, global_batch_size=32))
    assert resolve_accumulation(s, 8).gradient_accumulation_steps == 4  # the published 8 x 1 x 4
    assert resolve_accumulation(s, 1).gradient_accumulation_steps == 32
    s2 = _instructblip_recipe(TrainSettings(**base, global_batch_size=32, per_device_train_batch_size=2))
    assert resolve_accumulation(s2, 4).gradient_accumulation_steps == 4
    with pytest.raises(UserError, match="--global-batch-size 32 is not a multiple"):
        resolve_accumulation(s, 3)
    plain = _instructblip_recipe(TrainSettings(**base))
    assert resolve_accumulation(plain, 8) is plain


def test_llava_recipe_fills_what_the_user_left_unset(tmp_path):
    from hadpo_cli.models.families import by_name
    from hadpo_cli.settings.train import with_recipe
    from hadpo_cli.training.run import resolve_accumulation

    base = dict(vg_path=tmp_path, output_dir=tmp_path / "o", pope_data=tmp_path / "p.json")
    llava = by_name("llava").train_recipe
    s = with_recipe(TrainSettings(**base, lora_r=16), llava)
    assert (s.lora_r, s.lora_alpha, s.learning_rate, s.warmup_steps) == (16, 256, 2e-6, 0.03)
    assert s.lora_target == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert (s.pope_repeat, s.desc_repeat, s.max_length, s.image_augment) == (1, 2, 2048, "none")
    # 16 pairs per device x 8 GPUs = 128 per step, on any number of processes.
    assert (s.per_device_train_batch_size, s.global_batch_size) == (16, 128)
    assert resolve_accumulation(s, 8).gradient_accumulation_steps == 1
    assert resolve_accumulation(s, 2).gradient_accumulation_steps == 4
    # A user's accumulation is never overridden by the recipe's global batch.
    mine = with_recipe(TrainSettings(**base, gradient_accumulation_steps=3), llava)
    assert mine.global_batch_size is None and resolve_accumulation(mine, 2).gradient_accumulation_steps == 3
    assert with_recipe(mine, by_name("instructblip").train_recipe).gradient_accumulation_steps == 3


def test_every_family_recipe_sets_every_recipe_field():
    from hadpo_cli.models.families import families
    from hadpo_cli.settings.train import RECIPE_FIELDS

    for name, cls in families().items():
        given = set(cls.train_recipe)
        assert set(RECIPE_FIELDS) - {"gradient_accumulation_steps"} <= given, name
        assert given <= set(TrainSettings.model_fields), name


def test_disable_dropout_zeroes_every_dropout_layer():
    import torch

    from hadpo_cli.training.run import disable_dropout

    model = torch.nn.Sequential(
        torch.nn.Linear(4, 4), torch.nn.Dropout(0.1), torch.nn.Sequential(torch.nn.Dropout(0.5))
    )
    disable_dropout(model)
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.0, 0.0]
    model.train()
    x = torch.ones(3, 4)
    assert torch.equal(model(x), model(x))


def test_a_bad_flag_is_named_as_a_flag_even_with_a_config_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("vg_path: /data/vg\noutput-dir: out\npope-data: p.json\nlearning-rate: -1\n")
    flag = _run(["--config", str(cfg), "--beta", "-1", "--learning-rate", "1e-5"])
    assert flag.exit_code == 2 and "error: --beta:" in flag.output and str(cfg) not in flag.output
    from_file = _run(["--config", str(cfg)])
    assert from_file.exit_code == 2 and f"{cfg}: learning_rate:" in from_file.output


def test_desc_whitespace_defaults_to_the_release_and_reaches_the_settings(tmp_path, monkeypatch):
    seen = {}

    def fake_run(settings):
        seen["s"] = settings
        raise SystemExit(0)

    monkeypatch.setattr("hadpo_cli.training.run.run_train", fake_run)
    base = ["--vg-path", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--desc-data", "d.json"]
    _run(base)
    assert seen["s"].desc_whitespace is None  # left to the family's recipe
    assert _instructblip_recipe(seen["s"]).desc_whitespace == "delete-newlines"
    _run([*base, "--desc-whitespace", "collapse"])
    assert seen["s"].desc_whitespace == "collapse"
    bad = _run([*base, "--desc-whitespace", "strip"])
    assert bad.exit_code == 2 and "error: --desc-whitespace:" in bad.output and "Traceback" not in bad.output
    help_text = " ".join(_run(["--help"]).output.split()).replace("- ", "-")  # rich wraps at hyphens
    assert "--desc-whitespace" in help_text and "delete-newlines" in help_text


def test_non_finite_and_out_of_range_values_are_one_line(tmp_path):
    base = ["--vg-path", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--pope-data", "p.json"]
    for flag, value in (("--learning-rate", "inf"), ("--beta", "nan"), ("--seed", "-1"),
                        ("--seed", "99999999999")):  # fmt: skip
        r = _run([*base, flag, value])
        assert r.exit_code == 2, (flag, value, r.output)
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: {flag}:"), r.output
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learning-rate: .inf\n")
    r = _run(["--config", str(cfg), *base])
    assert r.exit_code == 2 and str(cfg) in r.output and "learning_rate" in r.output
