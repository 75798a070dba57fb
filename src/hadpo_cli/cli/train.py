"""``hadpo train``: flags (or a YAML --config) -> TrainSettings -> training.run.run_train."""

from __future__ import annotations

from hadpo_cli.cli.settings_command import settings_command
from hadpo_cli.settings.train import TrainSettings


def show(settings: TrainSettings, as_json: bool) -> None:
    from hadpo_cli.console import err, print_json
    from hadpo_cli.training.run import run_train, summarize

    result = run_train(settings)
    if not result.is_main:
        return  # under torchrun / accelerate launch only the main process reports
    summary = summarize(result)
    if as_json:
        print_json(summary)
    else:
        err.print(f"adapter written to {result.output_dir} after {result.global_step} steps")


command = settings_command(
    TrainSettings, show, doc="Train a LoRA adapter with the HA-DPO loss on preference pairs."
)
