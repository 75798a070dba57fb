"""``hadpo eval pope``: flags -> EvalPopeSettings -> evaluation.pope.run -> table (stderr) / JSON (stdout)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

from hadpo_cli.cli.common import field_default, guarded, settings_option
from hadpo_cli.models.loading import DType
from hadpo_cli.settings.eval_pope import EvalPopeSettings

S = EvalPopeSettings


_opt = functools.partial(settings_option, S)


@guarded
def command(
    model: Annotated[str, _opt("model")] = field_default(S, "model"),
    adapter: Annotated[Path | None, _opt("adapter")] = None,
    llm_model: Annotated[Path | None, _opt("llm_model")] = None,
    dtype: Annotated[DType, _opt("dtype")] = field_default(S, "dtype"),
    precision: Annotated[str, _opt("precision")] = field_default(S, "precision"),
    pope_set: Annotated[
        Literal["random", "popular", "adv", "adversarial", "all"] | None,
        _opt("set", "--set", show_default=False),
    ] = None,
    pope_path: Annotated[Path | None, _opt("pope_path")] = None,
    labels: Annotated[Path | None, _opt("labels")] = None,
    coco_path: Annotated[Path | None, _opt("coco_path")] = None,
    output: Annotated[Path, _opt("output", "--output", "-o")] = field_default(S, "output"),
    num_beams: Annotated[int | None, _opt("num_beams")] = None,
    max_new_tokens: Annotated[int | None, _opt("max_new_tokens")] = None,
    repetition_penalty: Annotated[float | None, _opt("repetition_penalty")] = None,
    batch_size: Annotated[int, _opt("batch_size")] = field_default(S, "batch_size"),
    prompt_suffix: Annotated[str, _opt("prompt_suffix")] = field_default(S, "prompt_suffix"),
    parser: Annotated[Literal["pope", "strict"], _opt("parser")] = field_default(S, "parser"),
    json: Annotated[bool, _opt("json", "--json")] = field_default(S, "json"),
) -> None:
    """Answer POPE questions with a model (batched, multi-process, resumable), then score them."""
    # The flags (nothing else is bound yet); --set's parameter has another name than its field.
    values = {k: v for k, v in locals().items() if k != "pope_set"} | {"set": pope_set}
    # Unset optional flags stay out, so a missing required one is named by the settings' check.
    settings = S.build({k: v for k, v in values.items() if v is not None})

    # After validation: flag mistakes are reported before torch loads.
    from hadpo_cli.console import err, print_json, print_table
    from hadpo_cli.evaluation.pope import run
    from hadpo_cli.metrics.pope import format_pope_table

    result = run(settings)
    if not result.is_main:
        return  # one table and one JSON document per run, not one per process
    print_table(format_pope_table(result.summary["splits"], show_unparseable=settings.parser == "strict"))
    figures = result.summary["run"]
    err.print(
        f"{figures['generated']} answered now, {figures['reused']} reused; metrics in {result.metrics_path}"
    )
    if settings.json:
        print_json(result.summary)
