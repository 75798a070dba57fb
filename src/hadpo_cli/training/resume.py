"""Resuming ``hadpo train``: find the checkpoint, refuse one the current settings cannot continue,
and recognise a run that already finished (so a requeued job does not train past its end)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.models.adapters import CONFIG_NAME, WEIGHT_NAMES, read_adapter_config
from hadpo_cli.settings.base import flag_name
from hadpo_cli.settings.train import TrainSettings

SNAPSHOT = "hadpo_settings.json"  # the run's settings, written into every checkpoint

# Settings a resumed run must share with its checkpoint: they decide the adapter's shape, the
# data order or what one step means. (Learning rate, logging and saving may change.)
MUST_MATCH = (
    "model", "precision", "lora_target", "lora_r", "lora_alpha", "pope_data", "desc_data", "vg_path", "pope_repeat",
    "desc_repeat", "seed", "desc_whitespace", "desc_prompt_stream", "max_length", "image_augment",
    "per_device_train_batch_size", "gradient_accumulation_steps",
    "num_processes",
)  # fmt: skip


def resolve_resume(settings: TrainSettings) -> str | None:
    """The checkpoint directory to resume from, or None."""
    value = settings.resume_from_checkpoint
    if value is None:
        return None
    if value == "latest":
        last = latest_complete_checkpoint(settings.output_dir)
        if last is None:
            raise UserError(
                f"--resume-from-checkpoint latest: no complete checkpoint-* directory in {settings.output_dir}"
            )
        return str(last)
    path = Path(value)
    if not is_complete(path):
        raise UserError(
            f"--resume-from-checkpoint: {value} is not a complete checkpoint directory (checkpoint-N)"
        )
    if not has_optimizer_state(path):
        # A finished run's output dir has an adapter and a state but no optimizer: resuming from
        # it would silently restart the optimizer.
        raise UserError(
            f"--resume-from-checkpoint: {value} holds no optimizer state; name a checkpoint-N in it"
        )
    return value


def is_complete(path: Path) -> bool:
    """The Trainer writes the adapter first and trainer_state.json last: a save cut by a kill
    leaves a directory without it."""
    names = (CONFIG_NAME, WEIGHT_NAMES[0], "trainer_state.json")
    return path.is_dir() and all((path / name).is_file() for name in names)


def has_optimizer_state(path: Path) -> bool:
    # optimizer.pt (plain), global_step*/ (DeepSpeed), optimizer_0/ or optimizer*.bin (FSDP)
    return any(p.name.startswith(("optimizer", "global_step")) for p in path.iterdir())


def latest_complete_checkpoint(output_dir: Path) -> Path | None:
    """The newest checkpoint-N that was saved completely; cut saves are skipped with a note."""
    from hadpo_cli.console import err

    if not output_dir.is_dir():
        return None
    numbered = []
    for p in output_dir.iterdir():
        suffix = p.name[len("checkpoint-") :]
        if p.is_dir() and p.name.startswith("checkpoint-") and suffix.isdigit():
            numbered.append((int(suffix), p))
    for _, path in sorted(numbered, reverse=True):
        if is_complete(path) and has_optimizer_state(path):
            return path
        err.print(f"[yellow]note:[/] skipping {path}: its save did not complete")
    return None


def snapshot(settings: TrainSettings, num_processes: int) -> dict[str, Any]:
    data = settings.public_dict()
    data["num_processes"] = num_processes
    return data


def check_compatible(checkpoint: str, settings: TrainSettings, num_processes: int) -> None:
    """One clear error before the model loads, instead of a shape traceback after."""
    path = Path(checkpoint)
    adapter = read_adapter_config(path)
    if adapter.get("r") != settings.lora_r or float(adapter.get("lora_alpha", 0)) != float(
        settings.lora_alpha
    ):
        raise UserError(
            f"--resume-from-checkpoint {checkpoint}: it has LoRA r {adapter.get('r')} alpha "
            f"{adapter.get('lora_alpha')}, the settings r {settings.lora_r} alpha {settings.lora_alpha}"
        )
    saved_path = path / SNAPSHOT
    if not saved_path.is_file():
        return  # a checkpoint from elsewhere: the adapter check above is all we can do
    saved = _canonical(json.loads(saved_path.read_text(encoding="utf-8")))
    current = _canonical(snapshot(settings, num_processes))
    for key in MUST_MATCH:
        if key in saved and saved[key] != current[key]:
            flag = "the number of processes" if key == "num_processes" else flag_name(key)
            raise UserError(
                f"--resume-from-checkpoint {checkpoint}: {flag} was {saved[key]!r} there, now {current[key]!r}; "
                "a resumed run needs the same value"
            )


PATH_FIELDS = ("model", "pope_data", "desc_data", "vg_path")


def _canonical(data: dict[str, Any]) -> dict[str, Any]:
    """``./m`` and ``/abs/m`` name one model or file: compare resolved paths."""
    from hadpo_cli.settings.model_source import canonical_model_ref

    return {k: canonical_model_ref(v) if k in PATH_FIELDS else v for k, v in data.items()}


def finished_step(checkpoint: str, settings: TrainSettings) -> int | None:
    """The checkpoint's step if it already is the run's last one, else None."""
    path = Path(checkpoint)
    state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    step = int(state.get("global_step", 0))
    if settings.max_steps > 0:
        target = settings.max_steps
    else:
        saved = path / SNAPSHOT
        before = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}
        if before.get("num_train_epochs", settings.num_train_epochs) != settings.num_train_epochs:
            return None  # more (or fewer) epochs asked for: the Trainer works out the new end
        target = int(state.get("max_steps", 0))
    return step if target and step >= target else None


def settings_snapshot_callback(settings: TrainSettings, num_processes: int) -> Any:
    """A Trainer callback writing the settings into each checkpoint as it is saved."""
    from transformers import TrainerCallback

    from hadpo_cli.io import atomic_write_json

    class SaveSettings(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    atomic_write_json(folder / SNAPSHOT, snapshot(settings, num_processes))
            return control

    return SaveSettings()


# What a training run leaves in --output-dir (the reference log-probs file is not a run: it is
# keyed on everything that made it and reused only when that matches).
RUN_FILES = (CONFIG_NAME, *WEIGHT_NAMES, "trainer_state.json", "settings.json")


def previous_run(output_dir: Path) -> list[Path]:
    out = Path(output_dir)
    if not out.is_dir():
        return []
    found = [out / name for name in RUN_FILES if (out / name).exists()]
    return found + sorted(p for p in out.glob("checkpoint-*") if p.is_dir())


def refuse_a_previous_run(settings: TrainSettings) -> None:
    """A new run into a directory that holds another would replace its adapter and leave its
    checkpoints beside the new ones, so that a later ``latest`` resumes the wrong run."""
    found = previous_run(settings.output_dir)
    if found and not settings.overwrite:
        raise UserError(
            f"--output-dir {settings.output_dir}: holds a training run ({found[0].name}); resume it with "
            "--resume-from-checkpoint latest, or replace it with --overwrite"
        )


def clear_previous_run(output_dir: Path) -> None:
    import shutil

    for path in previous_run(output_dir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
