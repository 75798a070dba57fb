"""Resuming ``hadpo train``: find the checkpoint, refuse one the current settings cannot continue,
and recognise a run that already finished (so a requeued job does not train past its end)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.settings.train import TrainSettings

SNAPSHOT = "hadpo_settings.json"  # the run's settings, written into every checkpoint

# Settings a resumed run must share with its checkpoint: they decide the adapter's shape, the
# data order or what one step means. (Learning rate, logging and saving may change.)
MUST_MATCH = (
    "model", "lora_target", "lora_r", "lora_alpha", "pope_data", "desc_data", "vg_path", "pope_repeat",
    "seed", "max_length", "image_augment", "per_device_train_batch_size", "gradient_accumulation_steps",
    "num_processes",
)  # fmt: skip


def resolve_resume(settings: TrainSettings) -> str | None:
    """The checkpoint directory to resume from, or None."""
    value = settings.resume_from_checkpoint
    if value is None:
        return None
    if value == "latest":
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(settings.output_dir)) if settings.output_dir.is_dir() else None
        if last is None:
            raise UserError(
                f"--resume-from-checkpoint latest: no checkpoint-* directory in {settings.output_dir}"
            )
        return last
    path = Path(value)
    if not (path / "adapter_model.safetensors").is_file() or not (path / "trainer_state.json").is_file():
        raise UserError(f"--resume-from-checkpoint: {value} is not a checkpoint directory (checkpoint-N)")
    if not (path / "optimizer.pt").is_file():
        # A finished run's output dir has an adapter and a state but no optimizer: resuming from
        # it would silently restart the optimizer.
        raise UserError(
            f"--resume-from-checkpoint: {value} holds no optimizer state; name a checkpoint-N in it"
        )
    return value


def snapshot(settings: TrainSettings, num_processes: int) -> dict[str, Any]:
    data = settings.public_dict()
    data["num_processes"] = num_processes
    return data


def check_compatible(checkpoint: str, settings: TrainSettings, num_processes: int) -> None:
    """One clear error before the model loads, instead of a shape traceback after."""
    path = Path(checkpoint)
    adapter = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
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
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    current = snapshot(settings, num_processes)
    for key in MUST_MATCH:
        if key in saved and saved[key] != current[key]:
            flag = "the number of processes" if key == "num_processes" else "--" + key.replace("_", "-")
            raise UserError(
                f"--resume-from-checkpoint {checkpoint}: {flag} was {saved[key]!r} there, now {current[key]!r}; "
                "a resumed run needs the same value"
            )


def finished_step(checkpoint: str, settings: TrainSettings) -> int | None:
    """The checkpoint's step if it already is the run's last one, else None."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    step = int(state.get("global_step", 0))
    target = settings.max_steps if settings.max_steps > 0 else int(state.get("max_steps", 0))
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
